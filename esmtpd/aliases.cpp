// esmtpd/aliases.cpp: see aliases.hpp.
#include "esmtpd/aliases.hpp"

#include <algorithm>
#include <set>

#include "esmtpd/command.hpp"
#include "lib/dbfile.hpp"

namespace esmtpd::aliases {

namespace {

struct Raw {
  std::string where;  // file:line
  std::vector<std::string> targets;
};

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

// A line "name: ..." starts an alias; anything else continues the previous one.
std::optional<std::pair<std::string, std::string>> alias_start(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view name = text.substr(0, colon);
  if (name.find_first_of(" \t,|/\"") != std::string_view::npos) return std::nullopt;
  return std::pair{lower(name), trim(text.substr(colon + 1))};
}

// Splits "a, b, c" into targets. A program (|...) or a :include: takes the rest.
lib::Result<void> add_targets(std::string_view text, const std::string& where, Raw& raw,
                              const std::function<lib::Result<std::string>(const std::string&)>& read_include,
                              int depth) {
  std::string rest;  // what follows an :include: (text may point into it)
  while (!text.empty()) {
    std::string t;
    std::string_view rest_view = text;
    auto first = trim(rest_view);
    if (first.rfind("|", 0) == 0) {
      raw.targets.push_back(first);
      return {};
    }
    if (first.rfind(":include:", 0) == 0) {
      if (depth > 4) return lib::permanent_error(where + ": :include: nested too deep");
      std::string path = trim(std::string_view(first).substr(9));
      auto end = path.find(',');
      std::string after;
      if (end != std::string::npos) {
        after = path.substr(end + 1);
        path = trim(path.substr(0, end));
      }
      if (path.empty() || path[0] != '/')
        return lib::permanent_error(where + ": :include: needs an absolute path, got '" + path + "'");
      auto content = read_include(path);
      if (!content) return lib::permanent_error(where + ": " + content.error().message);
      std::string joined;
      for (char c : *content) joined.push_back(c == '\n' ? ',' : c);
      if (auto r = add_targets(joined, path + " (included at " + where + ")", raw, read_include, depth + 1); !r)
        return r;
      rest = std::move(after);
      text = rest;
      continue;
    }
    auto comma = text.find(',');
    t = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (t.empty()) continue;
    if (t.size() > 1 && t.front() == '<' && t.back() == '>') t = t.substr(1, t.size() - 2);
    if (t[0] != '/') t = lower(t);
    raw.targets.push_back(t);
  }
  return {};
}

}  // namespace

lib::Result<Compiled> compile(const std::vector<lib::ListEntry>& entries,
                              const std::function<lib::Result<std::string>(const std::string&)>& read_include) {
  std::map<std::string, Raw> raw;
  Raw* current = nullptr;
  std::string current_name;
  for (const auto& e : entries) {
    std::string where = e.file + ":" + std::to_string(e.line);
    if (auto start = alias_start(e.text)) {
      auto& [name, value] = *start;
      if (raw.count(name)) {
        // Courier merges repeated aliases; so do we.
        current = &raw[name];
      } else {
        current = &raw[name];
        current->where = where;
      }
      current_name = name;
      if (name[0] == '@') {
        std::string user = trim(value);
        if (user.empty() || user.find_first_of(" ,@|/") != std::string::npos)
          return lib::permanent_error(where + ": '" + name + ": " + value +
                                      "': a virtual domain alias names one local user (@domain: user)");
        current->targets = {lower(user)};
        continue;
      }
      if (auto r = add_targets(value, where, *current, read_include, 0); !r) return r.error();
    } else {
      if (!current || current_name[0] == '@')
        return lib::permanent_error(where + ": '" + e.text + "' is not 'name: address, ...' (and continues no alias)");
      if (auto r = add_targets(e.text, where, *current, read_include, 0); !r) return r.error();
    }
  }
  for (auto& [name, r] : raw)
    if (r.targets.empty() && name[0] != '@')
      return lib::permanent_error(r.where + ": alias '" + name + "' has no address");

  // Expand nested aliases depth first; a name met again on the current chain is a loop.
  Compiled out;
  std::function<lib::Result<void>(const std::string&, std::vector<std::string>&, std::vector<std::string>&,
                                  std::set<std::string>&)>
      visit = [&](const std::string& name, std::vector<std::string>& chain, std::vector<std::string>& result,
                  std::set<std::string>& seen) -> lib::Result<void> {
    const Raw& r = raw.at(name);
    chain.push_back(name);
    for (const auto& t : r.targets) {
      std::string key = t;
      if (!raw.count(key)) {
        // "name@domain" of a local alias written without domain is matched at RCPT time.
        if (result.size() >= 100000) return lib::permanent_error(r.where + ": alias '" + name + "' expands to too many addresses");
        if (seen.insert(t).second) result.push_back(t);
        continue;
      }
      if (std::find(chain.begin(), chain.end(), key) != chain.end()) {
        std::string path;
        for (const auto& c : chain) path += c + " -> ";
        return lib::permanent_error(raw.at(key).where + ": alias loop: " + path + key);
      }
      if (auto v = visit(key, chain, result, seen); !v) return v;
    }
    chain.pop_back();
    return {};
  };
  for (const auto& [name, r] : raw) {
    if (name[0] == '@') {
      out.entries[name] = r.targets;
      continue;
    }
    std::vector<std::string> chain, result;
    std::set<std::string> seen;
    if (auto v = visit(name, chain, result, seen); !v) return v.error();
    out.entries[name] = std::move(result);
  }
  return out;
}

lib::Result<Compiled> compile_source(const std::string& source) {
  auto entries = lib::read_list_source(source);
  if (!entries) return entries.error();
  return compile(*entries, [](const std::string& path) { return lib::read_small_file(path, 16 * 1024 * 1024); });
}

lib::Result<void> write_dat(const Compiled& compiled, const std::string& dat_path) {
  auto b = lib::DbBuilder::create(dat_path, 0644);
  if (!b) return b.error();
  for (const auto& [k, targets] : compiled.entries) {
    std::string v;
    for (const auto& t : targets) {
      if (!v.empty()) v.push_back('\n');
      v += t;
    }
    if (auto r = b->put(k, v); !r) return r;
  }
  return b->commit();
}

std::string dump(const Compiled& compiled) {
  std::string out;
  for (const auto& [k, targets] : compiled.entries) {
    out += k + ":";
    for (std::size_t i = 0; i < targets.size(); ++i) out += (i ? ", " : " ") + targets[i];
    out += "\n";
  }
  return out;
}

lib::Result<Expansion> expand(const Lookup& lookup, std::string_view address, bool local_domain) {
  auto [local, domain] = split_address(address);
  std::string l = lower(local), d = lower(domain);
  auto split = [](const std::string& v) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= v.size()) {
      auto lf = v.find('\n', start);
      std::string t = v.substr(start, lf == std::string::npos ? std::string::npos : lf - start);
      if (!t.empty()) out.push_back(t);
      if (lf == std::string::npos) break;
      start = lf + 1;
    }
    return out;
  };
  std::vector<std::string> keys;
  if (!d.empty()) keys.push_back(l + "@" + d);
  if (local_domain || d.empty()) keys.push_back(l);
  for (const auto& k : keys) {
    auto r = lookup(k);
    if (!r) return r.error();
    if (*r) return Expansion{true, split(**r)};
  }
  if (!d.empty()) {
    auto r = lookup("@" + d);
    if (!r) return r.error();
    if (*r) {
      auto users = split(**r);
      if (!users.empty()) return Expansion{true, {users[0] + "-" + l}};
    }
  }
  return Expansion{};
}

}  // namespace esmtpd::aliases
