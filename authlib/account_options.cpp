// authlib/account_options.cpp: see account_options.hpp.
#include "authlib/account_options.hpp"

#include <cstdlib>

namespace authlib {
namespace {

template <class F>
void each_item(std::string_view options, std::string_view name, F&& f) {
  while (!options.empty()) {
    std::size_t comma = options.find(',');
    std::string_view item = options.substr(0, comma);
    options = comma == std::string_view::npos ? std::string_view() : options.substr(comma + 1);
    std::size_t eq = item.find('=');
    if (item.substr(0, eq) != name) continue;
    if (!f(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1))) return;
  }
}

}  // namespace

std::optional<std::string> account_option(std::string_view options, std::string_view name) {
  std::optional<std::string> out;
  each_item(options, name, [&](std::string_view v) {
    out = std::string(v);
    return false;
  });
  return out;
}

bool account_option_set(std::string_view options, std::string_view name) {
  auto v = account_option(options, name);
  if (!v) return false;
  if (v->empty()) return true;
  char c = (*v)[0];
  if (c == 'y' || c == 'Y' || c == 't' || c == 'T') return true;
  return std::atoi(v->c_str()) != 0;
}

std::vector<std::string> account_option_values(std::string_view options, std::string_view name) {
  std::vector<std::string> out;
  each_item(options, name, [&](std::string_view v) {
    if (!v.empty()) out.emplace_back(v);
    return true;
  });
  return out;
}

}  // namespace authlib
