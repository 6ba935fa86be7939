// esmtpd/command.cpp: see command.hpp.
#include "esmtpd/command.hpp"

#include <cctype>
#include <charconv>

#include "lib/ascii.hpp"

namespace esmtpd {

namespace {

bool blank(char c) { return c == ' ' || c == '\t'; }

std::string upper(std::string_view s) { return lib::ascii::to_upper(s); }

bool iequals_prefix(std::string_view s, std::string_view prefix) { return lib::ascii::istarts_with(s, prefix); }

bool atext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool valid_domain(std::string_view d, bool utf8) {
  if (d.empty() || d.size() > 255) return false;
  if (d.front() == '[') {
    if (d.back() != ']' || d.size() < 3) return false;
    for (char c : d.substr(1, d.size() - 2))
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '-')) return false;
    return true;
  }
  std::size_t label = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(d[i]);
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              (utf8 && c >= 0x80);
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

}  // namespace

std::string lower(std::string_view s) { return lib::ascii::to_lower(s); }

Command parse_command(std::string_view line) {
  Command cmd;
  std::size_t i = 0;
  while (i < line.size() && !blank(line[i])) ++i;
  cmd.name = upper(line.substr(0, i));
  while (i < line.size() && blank(line[i])) ++i;
  cmd.arg = line.substr(i);
  static const std::pair<const char*, Verb> verbs[] = {
      {"HELO", Verb::helo}, {"EHLO", Verb::ehlo}, {"MAIL", Verb::mail}, {"RCPT", Verb::rcpt},
      {"DATA", Verb::data}, {"BDAT", Verb::bdat}, {"RSET", Verb::rset}, {"NOOP", Verb::noop},
      {"QUIT", Verb::quit}, {"HELP", Verb::help}, {"VRFY", Verb::vrfy}, {"EXPN", Verb::expn},
      {"STARTTLS", Verb::starttls}, {"AUTH", Verb::auth}};
  for (const auto& [name, verb] : verbs)
    if (cmd.name == name) cmd.verb = verb;
  if (cmd.name.size() > 16) cmd.name.resize(16);
  return cmd;
}

bool valid_mailbox(std::string_view a, bool utf8) {
  if (a.empty() || a.size() > 320) return false;
  std::size_t at = a.rfind('@');
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view local = a.substr(0, at), domain = a.substr(at + 1);
  if (local.size() > 128 || !valid_domain(domain, utf8)) return false;
  if (local.front() == '"') {
    if (local.size() < 2 || local.back() != '"') return false;
    for (std::size_t i = 1; i + 1 < local.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(local[i]);
      if (c == '\\') {
        if (++i + 1 >= local.size()) return false;
        continue;
      }
      if (c == '"' || c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) return false;
    }
    return true;
  }
  std::size_t atom = 0;
  for (char ch : local) {
    if (ch == '.') {
      if (atom == 0) return false;
      atom = 0;
    } else if (atext(static_cast<unsigned char>(ch), utf8)) {
      ++atom;
    } else {
      return false;
    }
  }
  return atom > 0;
}

std::pair<std::optional<PathCommand>, std::optional<PathError>> parse_path_command(
    std::string_view arg, std::string_view prefix, bool allow_null) {
  auto error = [](int code, std::string text) {
    return std::pair<std::optional<PathCommand>, std::optional<PathError>>{
        std::nullopt, PathError{code, std::to_string(code) + " " + text}};
  };
  if (!iequals_prefix(arg, prefix))
    return error(501, std::string("5.5.4 Syntax: ") + (prefix == "FROM:" ? "MAIL FROM:<address>" : "RCPT TO:<address>"));
  arg.remove_prefix(prefix.size());
  while (!arg.empty() && blank(arg.front())) arg.remove_prefix(1);
  if (arg.empty() || arg.front() != '<')
    return error(517, std::string("5.1.") + (prefix == "FROM:" ? "7" : "3") +
                          " Syntax error - your mail software violates RFC 821: the address must be "
                          "in angle brackets, e.g. " + (prefix == "FROM:" ? "MAIL FROM:<user@domain>" : "RCPT TO:<user@domain>"));
  // Find the closing bracket, honouring quoted strings.
  std::size_t close = std::string_view::npos;
  bool quoted = false;
  for (std::size_t i = 1; i < arg.size(); ++i) {
    char c = arg[i];
    if (quoted && c == '\\') {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    else if (!quoted && c == '>') {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos) return error(501, "5.1.7 Syntax error: missing '>' after the address");
  std::string_view path = arg.substr(1, close - 1);
  std::string_view rest = arg.substr(close + 1);
  // A source route "@a,@b:" is ignored (RFC 5321 4.1.1.3, C).
  if (!path.empty() && path.front() == '@') {
    auto colon = path.find(':');
    if (colon == std::string_view::npos) return error(501, "5.1.7 Syntax error in the source route");
    path.remove_prefix(colon + 1);
  }
  PathCommand out;
  out.address = path;
  if (path.empty() && !allow_null) return error(501, "5.1.3 The null address <> is not a valid recipient");
  // Parameters.
  while (!rest.empty()) {
    if (!blank(rest.front())) return error(501, "5.5.4 Syntax error: a space must separate the parameters");
    while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
    if (rest.empty()) break;
    std::size_t end = 0;
    while (end < rest.size() && !blank(rest[end])) ++end;
    std::string_view p = rest.substr(0, end);
    rest.remove_prefix(end);
    Param param;
    auto eq = p.find('=');
    param.keyword = upper(p.substr(0, eq));
    if (eq != std::string_view::npos) {
      param.has_value = true;
      param.value = p.substr(eq + 1);
    }
    if (param.keyword.empty()) return error(501, "5.5.4 Syntax error: empty parameter keyword");
    if (out.params.size() >= 16) return error(501, "5.5.4 Too many parameters");
    out.params.push_back(std::move(param));
  }
  return {std::move(out), std::nullopt};
}

std::optional<std::string> xtext_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '+') {
      if (i + 2 >= text.size()) return std::nullopt;
      unsigned v = 0;
      auto [p, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, v, 16);
      if (ec != std::errc() || p != text.data() + i + 3) return std::nullopt;
      out.push_back(static_cast<char>(v));
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return std::nullopt;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::optional<BdatArgs> parse_bdat(std::string_view arg) {
  BdatArgs out;
  std::size_t i = 0;
  while (i < arg.size() && arg[i] >= '0' && arg[i] <= '9') ++i;
  if (i == 0 || i > 18) return std::nullopt;
  std::from_chars(arg.data(), arg.data() + i, out.size);
  std::string_view rest = arg.substr(i);
  if (!rest.empty() && !blank(rest.front())) return std::nullopt;
  while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
  while (!rest.empty() && blank(rest.back())) rest.remove_suffix(1);
  if (rest.empty()) return out;
  if (upper(rest) != "LAST") return std::nullopt;
  out.last = true;
  return out;
}

std::pair<std::string, std::string> split_address(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return {std::string(address), std::string()};
  return {std::string(address.substr(0, at)), std::string(address.substr(at + 1))};
}

}  // namespace esmtpd
