// tls/tls_variables.cpp: see tls_variables.hpp.
#include "tls/tls_variables.hpp"

namespace tls {

bool valid_variable_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool valid_variable_value(std::string_view value) {
  if (value.size() > max_subject_value_bytes) return false;
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

bool acceptable_tls_variable(std::string_view name, std::string_view value) {
  if (name == "TLS_CONNECTED_PROTOCOL") return valid_variable_value(value) && !value.empty();
  constexpr std::string_view prefix = "TLS_SUBJECT_";
  if (name.substr(0, prefix.size()) != prefix) return false;
  return valid_variable_name(name.substr(prefix.size())) && valid_variable_value(value);
}

}  // namespace tls
