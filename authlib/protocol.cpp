// authlib/protocol.cpp: see protocol.hpp.
#include "authlib/protocol.hpp"

#include <cctype>
#include <charconv>

namespace authlib::protocol {
namespace {

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

template <class T>
std::optional<T> to_number(std::string_view s) {
  T value{};
  if (s.empty() || s.size() > 19) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::variant<Line, LineError> parse_pre(std::string_view args) {
  auto fields = split(args, ' ');
  // The user name is the rest of the line: Courier allows spaces in it.
  if (fields.size() < 3) return LineError{"PRE needs a module, a service and a user name"};
  PreRequest r;
  r.module = fields[0];
  r.service = fields[1];
  r.user = args.substr(fields[0].size() + fields[1].size() + 2);
  if (r.module.empty() || r.service.empty() || r.user.empty())
    return LineError{"PRE with an empty module, service or user name"};
  return Line{std::move(r)};
}

std::variant<Line, LineError> parse_passwd(std::string_view args) {
  auto fields = split(args, '\t');
  // "service\tuser\told\tnew\t": the trailing tab gives an empty last field.
  if (!fields.empty() && fields.back().empty()) fields.pop_back();
  if (fields.size() != 4) return LineError{"PASSWD needs service, user, old and new password separated by tabs"};
  if (fields[0].empty() || fields[1].empty()) return LineError{"PASSWD with an empty service or user name"};
  PasswdRequest r;
  r.service = fields[0];
  r.user = fields[1];
  r.old_password = lib::Secret(fields[2]);
  r.new_password = lib::Secret(fields[3]);
  return Line{std::move(r)};
}

void add_field(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  out.append(key).append("=").append(value).append("\n");
}

// Values go into "KEY=value\n" lines: a newline inside would forge a field.
std::string clean(std::string_view v) {
  std::string s(v);
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return s;
}

}  // namespace

std::variant<Line, LineError> parse_line(std::string_view line) {
  if (line.size() > max_line_bytes) return LineError{"request line too long"};
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.starts_with("PASSWD ")) {
    // PASSWD is tab-separated; the tabs are not control characters here.
    auto args = line.substr(7);
    for (unsigned char c : args)
      if ((c < 0x20 && c != '\t') || c == 0x7f) return LineError{"control character in PASSWD request"};
    return parse_passwd(args);
  }
  if (has_control(line)) return LineError{"control character in request line"};
  if (line.starts_with("PRE ")) return parse_pre(line.substr(4));
  if (line.starts_with("AUTH ")) {
    auto n = to_number<size_t>(line.substr(5));
    if (!n) return LineError{"AUTH length is not a number"};
    if (*n == 0 || *n > max_auth_payload_bytes)
      return LineError{"AUTH length " + std::to_string(*n) + " outside 1.." + std::to_string(max_auth_payload_bytes)};
    return Line{AuthHeader{*n}};
  }
  if (line == "ENUMERATE") return Line{EnumerateRequest{}};
  if (line.starts_with("REDEEM ")) {
    auto fields = split(line.substr(7), ' ');
    if (fields.size() != 2 || fields[0].empty() || fields[1].empty())
      return LineError{"REDEEM needs a service and a ticket"};
    return Line{RedeemRequest{std::string(fields[0]), std::string(fields[1])}};
  }
  auto eq = line.find('=');
  if (eq != std::string_view::npos && eq > 0) {
    auto name = line.substr(0, eq);
    for (char c : name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return LineError{"unknown request"};
    return Line{Metadata{std::string(name), std::string(line.substr(eq + 1))}};
  }
  return LineError{"unknown request"};
}

std::string format_account(const Account& a) {
  std::string out;
  if (a.uid) {
    add_field(out, "UID", std::to_string(*a.uid));
  } else {
    add_field(out, "USERNAME", clean(a.username));
  }
  add_field(out, "GID", std::to_string(a.gid));
  add_field(out, "HOME", clean(a.home));
  add_field(out, "ADDRESS", clean(a.address));
  add_field(out, "NAME", clean(a.fullname));
  add_field(out, "MAILDIR", clean(a.maildir));
  add_field(out, "QUOTA", clean(a.quota));
  add_field(out, "OPTIONS", clean(a.options));
  out += ".\n";
  return out;
}

std::string format_enumerate_line(const Account& a) {
  std::string name = clean(a.address.empty() ? a.username : a.address);
  std::string uid = a.uid ? std::to_string(*a.uid) : clean(a.username);
  return name + "\t" + uid + "\t" + std::to_string(a.gid) + "\t" + clean(a.home) + "\t" + clean(a.maildir) +
         "\t" + clean(a.options);
}

std::optional<Account> parse_account_reply(std::string_view reply) {
  Account a;
  bool have_gid = false, ended = false;
  for (auto line : split(reply, '\n')) {
    if (line == ".") {
      ended = true;
      break;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    auto key = line.substr(0, eq);
    auto value = line.substr(eq + 1);
    if (key == "UID") {
      auto n = to_number<uid_t>(value);
      if (!n) return std::nullopt;
      a.uid = *n;
    } else if (key == "GID") {
      auto n = to_number<gid_t>(value);
      if (!n) return std::nullopt;
      a.gid = *n;
      have_gid = true;
    } else if (key == "USERNAME") {
      a.username = value;
    } else if (key == "HOME") {
      a.home = value;
    } else if (key == "ADDRESS") {
      a.address = value;
    } else if (key == "NAME") {
      a.fullname = value;
    } else if (key == "MAILDIR") {
      a.maildir = value;
    } else if (key == "QUOTA") {
      a.quota = value;
    } else if (key == "OPTIONS") {
      a.options = value;
    } else if (key == "PASSWD") {
      a.crypted_password = value;
    } else if (key == "PASSWD2") {
      a.clear_password = lib::Secret(value);
    }  // unknown keys: a newer daemon may send more; ignore them
  }
  if (!ended || a.home.empty() || (!a.uid && a.username.empty())) return std::nullopt;
  // Courier's daemon omits GID= together with UID= when it sends USERNAME=.
  if (!have_gid && a.uid) return std::nullopt;
  return a;
}

std::optional<Account> parse_enumerate_line(std::string_view line) {
  auto f = split(line, '\t');
  if (f.size() < 4 || f[0].empty()) return std::nullopt;
  Account a;
  a.address = f[0];
  if (auto uid = to_number<uid_t>(f[1])) {
    a.uid = *uid;
  } else {
    a.username = f[1];
  }
  auto gid = to_number<gid_t>(f[2]);
  if (!gid) return std::nullopt;
  a.gid = *gid;
  a.home = f[3];
  if (f.size() > 4) a.maildir = f[4];
  if (f.size() > 5) a.options = f[5];
  return a;
}

std::string pre_request(std::string_view service, std::string_view user, std::string_view module) {
  return "PRE " + std::string(module) + " " + std::string(service) + " " + std::string(user) + "\n";
}

std::string auth_request_header(size_t payload_bytes) { return "AUTH " + std::to_string(payload_bytes) + "\n"; }

std::string redeem_request(std::string_view service, std::string_view ticket) {
  return "REDEEM " + std::string(service) + " " + std::string(ticket) + "\n";
}

lib::Secret passwd_request(std::string_view service, std::string_view user, const lib::Secret& old_password,
                           const lib::Secret& new_password) {
  std::string s = "PASSWD " + std::string(service) + "\t" + std::string(user) + "\t";
  s.append(old_password.reveal()).append("\t").append(new_password.reveal()).append("\t\n");
  return lib::Secret(std::move(s));
}

}  // namespace authlib::protocol
