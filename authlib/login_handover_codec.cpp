// authlib/login_handover_codec.cpp: the hand-over's bytes (login_handover.hpp),
// apart from the processes, so the fuzz target links only this.
#include <charconv>

#include "authlib/login_handover.hpp"

namespace authlib::login {
namespace {

void add_record(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(" ").append(std::to_string(value.size())).append("\n").append(value).append("\n");
}

bool printable(std::string_view s) {
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

bool is_ticket(std::string_view s) {
  if (s.size() != max_ticket_bytes) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool is_tls_variable(std::string_view s) {
  if (!s.starts_with("TLS_") || s.size() > max_tls_variable_bytes) return false;
  auto eq = s.find('=');
  if (eq == std::string_view::npos) return false;
  for (char c : s.substr(0, eq))
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  for (unsigned char c : s.substr(eq + 1))
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

lib::Error bad(const std::string& what) { return lib::permanent_error(what); }

}  // namespace

std::string encode(const Handover& h) {
  std::string out;
  add_record(out, "handover", "1");
  add_record(out, "ticket", h.ticket);
  if (!h.tag.empty()) add_record(out, "tag", h.tag);
  if (!h.method.empty()) add_record(out, "method", h.method);
  if (h.utf8) add_record(out, "utf8", "1");
  if (h.starttls) add_record(out, "starttls", "1");
  for (const auto& v : h.tls_environment) add_record(out, "tlsenv", v);
  if (!h.pipelined.empty()) add_record(out, "pipelined", h.pipelined);
  add_record(out, "end", "");
  return out;
}

lib::Result<Handover> parse(std::string_view bytes) {
  if (bytes.size() > max_handover_bytes)
    return bad("oversized hand-over (" + std::to_string(bytes.size()) + " bytes, at most " +
               std::to_string(max_handover_bytes) + ")");
  Handover h;
  size_t pos = 0;
  bool seen_tag = false, seen_method = false, seen_utf8 = false, seen_starttls = false, seen_pipelined = false;
  for (size_t n = 1;; ++n) {
    const std::string where = "record " + std::to_string(n);
    if (pos >= bytes.size()) return bad("no end record (the hand-over stops after " + std::to_string(n - 1) + " records)");
    size_t space = bytes.find(' ', pos);
    if (space == std::string_view::npos || space - pos > 16) return bad(where + ": no record name");
    std::string_view name = bytes.substr(pos, space - pos);
    size_t eol = bytes.find('\n', space);
    if (eol == std::string_view::npos || eol - space - 1 > 6 || eol == space + 1)
      return bad(where + " (" + std::string(name) + "): no length");
    size_t len = 0;
    auto [end, ec] = std::from_chars(bytes.data() + space + 1, bytes.data() + eol, len);
    if (ec != std::errc() || end != bytes.data() + eol) return bad(where + " (" + std::string(name) + "): bad length");
    if (len > bytes.size() - eol - 1 || bytes.size() - eol - 1 - len < 1 || bytes[eol + 1 + len] != '\n')
      return bad(where + " (" + std::string(name) + "): truncated");
    std::string_view value = bytes.substr(eol + 1, len);
    pos = eol + 1 + len + 1;
    auto once = [&](bool& seen) -> bool {
      if (seen) return false;
      seen = true;
      return true;
    };
    if (n == 1) {
      if (name != "handover" || value != "1") return bad("not a hand-over (the first record is not \"handover 1\")");
    } else if (n == 2) {
      if (name != "ticket") return bad("record 2 is not the ticket");
      if (!is_ticket(value)) return bad("ticket is not 64 lowercase hex digits");
      h.ticket = value;
    } else if (name == "end") {
      if (!value.empty()) return bad("end record with a value");
      if (pos != bytes.size())
        return bad(std::to_string(bytes.size() - pos) + " bytes after the end record");
      return h;
    } else if (name == "tag") {
      if (!once(seen_tag)) return bad("tag given twice");
      if (value.empty() || value.size() > max_tag_bytes || !printable(value)) return bad("malformed tag");
      h.tag = value;
    } else if (name == "method") {
      if (!once(seen_method)) return bad("method given twice");
      if (value.empty() || value.size() > max_method_bytes || !printable(value)) return bad("malformed method");
      h.method = value;
    } else if (name == "utf8" || name == "starttls") {
      bool& seen = name == "utf8" ? seen_utf8 : seen_starttls;
      if (!once(seen)) return bad(std::string(name) + " given twice");
      if (value != "0" && value != "1") return bad(std::string(name) + " is neither 0 nor 1");
      (name == "utf8" ? h.utf8 : h.starttls) = value == "1";
    } else if (name == "tlsenv") {
      if (h.tls_environment.size() >= max_tls_variables)
        return bad("more than " + std::to_string(max_tls_variables) + " TLS variables");
      if (!is_tls_variable(value)) return bad("malformed TLS variable");
      h.tls_environment.emplace_back(value);
    } else if (name == "pipelined") {
      if (!once(seen_pipelined)) return bad("pipelined given twice");
      if (value.size() > max_pipelined_bytes)
        return bad("oversized pipelined (" + std::to_string(value.size()) + " bytes, at most " +
                   std::to_string(max_pipelined_bytes) + ")");
      h.pipelined = value;
    } else {
      std::string shown;
      for (char c : name) shown += (c > 0x20 && c < 0x7f) ? c : '?';
      return bad(where + ": unknown name \"" + shown + "\"");
    }
  }
}

}  // namespace authlib::login
