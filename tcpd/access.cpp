// tcpd/access.cpp: access-file lines, CIDR expansion, compiling and lookups.
#include "tcpd/access.hpp"

#include <algorithm>
#include <map>

#include "lib/config.hpp"

namespace tcpd {

namespace {

using U128 = unsigned __int128;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A decimal number without leading zeros, at most max_value.
std::optional<unsigned> parse_number(std::string_view s, unsigned max_value) {
  if (!all_digits(s) || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v > max_value) return std::nullopt;
  return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Courier's IPv6 key form ":hhhh:hhhh[.port]". Groups of 1..4 hex digits
// are zero-padded and lowercased (Courier itself would silently never match
// "3FFE" or ":3ffe:db8"; we write what was meant).
lib::Result<std::string> normalize_colon_key(std::string_view key) {
  std::string_view groups = key.substr(1);
  std::string port_suffix;
  if (size_t dot = groups.find('.'); dot != std::string_view::npos) {
    auto port = parse_number(groups.substr(dot + 1), 65535);
    if (!port || *port == 0)
      return lib::permanent_error("bad port in \"" + std::string(key) + "\" (write :hhhh:...:hhhh.PORT)");
    port_suffix = "." + std::to_string(*port);
    groups = groups.substr(0, dot);
  }
  auto parts = split(groups, ':');
  if (parts.size() > 8)
    return lib::permanent_error("\"" + std::string(key) + "\" has more than 8 IPv6 groups");
  if (!port_suffix.empty() && parts.size() != 8)
    return lib::permanent_error("\"" + std::string(key) +
                                "\": a port may only follow a complete address of 8 groups");
  std::string out;
  for (auto g : parts) {
    if (g.empty() || g.size() > 4 || !std::all_of(g.begin(), g.end(), is_hex))
      return lib::permanent_error("\"" + std::string(key) +
                                  "\" is not an IPv6 prefix in couriertcpd's form: a colon, then groups of "
                                  "4 hexadecimal digits separated by colons, e.g. :2001:0db8");
    out += ':';
    out.append(4 - g.size(), '0');
    for (char c : g) out += lower(c);
  }
  return out + port_suffix;
}

// Dotted IPv4 prefix "a[.b[.c[.d[.port]]]]".
lib::Result<std::string> normalize_dotted_key(std::string_view key) {
  auto parts = split(key, '.');
  if (parts.size() > 5)
    return lib::permanent_error("\"" + std::string(key) + "\" has too many parts for an IPv4 prefix");
  for (size_t i = 0; i < parts.size(); ++i) {
    bool is_port = i == 4;
    auto v = parse_number(parts[i], is_port ? 65535 : 255);
    if (!v || (is_port && *v == 0))
      return lib::permanent_error("\"" + std::string(key) + "\" is not an IPv4 prefix: write 1 to 4 numbers 0-255 "
                                  "without leading zeros, separated by dots (e.g. 192.168 or 10.1.2.3)" +
                                  (parts.size() == 5 ? std::string(", then .PORT") : std::string()));
  }
  return std::string(key);
}

std::optional<IpAddress> parse_full_address(std::string_view text) {
  return IpAddress::parse(text);
}

U128 to_u128(const IpAddress& a) {
  U128 v = 0;
  size_t n = a.v4() ? 4 : 16;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | a.bytes[i];
  return v;
}

IpAddress from_u128(U128 v, bool v4) {
  IpAddress a;
  a.family = v4 ? IpAddress::Family::v4 : IpAddress::Family::v6;
  size_t n = v4 ? 4 : 16;
  for (size_t i = n; i-- > 0;) {
    a.bytes[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return a;
}

// The key for the first prefix_bits (a multiple of 8 or 16) of an address.
std::string prefix_key(const IpAddress& a, unsigned prefix_bits) {
  std::string full = access_key(a);
  if (a.v4()) {
    unsigned octets = prefix_bits / 8;
    auto parts = split(full, '.');
    std::string out;
    for (unsigned i = 0; i < octets; ++i) {
      if (i) out += '.';
      out += parts[i];
    }
    return out;
  }
  return full.substr(0, (prefix_bits / 16) * 5);
}

// Expands a CIDR block into prefix keys, as Net::CIDR::cidr2octets does.
lib::Result<void> expand_cidr(const IpAddress& net, unsigned len, std::vector<std::string>& keys) {
  const unsigned bits = net.v4() ? 32 : 128;
  const unsigned unit = net.v4() ? 8 : 16;
  unsigned rounded = len == 0 ? unit : ((len + unit - 1) / unit) * unit;
  unsigned free_bits = rounded - len;
  if ((U128{1} << free_bits) + keys.size() > access_max_keys_per_line)
    return lib::permanent_error("expands to more than " + std::to_string(access_max_keys_per_line) +
                                " entries; use a shorter prefix or \"*\"");
  U128 base = to_u128(net);
  U128 step = U128{1} << (bits - rounded);
  U128 count = U128{1} << free_bits;
  for (U128 i = 0; i < count; ++i) keys.push_back(prefix_key(from_u128(base + i * step, net.v4()), rounded));
  return {};
}

U128 host_mask(unsigned bits, unsigned len) {
  unsigned host_bits = bits - len;
  if (host_bits == 0) return 0;
  if (host_bits >= 128) return ~U128{0};
  return (U128{1} << host_bits) - 1;
}

lib::Result<std::vector<std::string>> expand_cidr_text(std::string_view key) {
  size_t slash = key.find('/');
  std::string_view addr_text = key.substr(0, slash);
  auto addr = parse_full_address(addr_text);
  if (!addr)
    return lib::permanent_error("\"" + std::string(addr_text) +
                                "\" is not an IP address (a CIDR block is written 10.1.0.0/16 or 2001:db8::/32)");
  const unsigned bits = addr->v4() ? 32 : 128;
  auto len = parse_number(key.substr(slash + 1), 128);
  if (!len || *len > bits)
    return lib::permanent_error("bad prefix length in \"" + std::string(key) + "\": use 0 to " +
                                std::to_string(bits));
  U128 v = to_u128(*addr);
  if (v & host_mask(bits, *len)) {
    IpAddress fixed = from_u128(v & ~host_mask(bits, *len), addr->v4());
    return lib::permanent_error("\"" + std::string(key) + "\" has host bits set; did you mean " + fixed.to_string() +
                                "/" + std::to_string(*len) + "?");
  }
  std::vector<std::string> keys;
  if (auto r = expand_cidr(*addr, *len, keys); !r) return r.error();
  return keys;
}

// A range "first-last" becomes the smallest list of CIDR blocks (Net::CIDR::range2cidr).
lib::Result<std::vector<std::string>> expand_range_text(std::string_view key) {
  size_t dash = key.find('-');
  auto first = parse_full_address(key.substr(0, dash));
  auto last = parse_full_address(key.substr(dash + 1));
  if (!first || !last || first->family != last->family)
    return lib::permanent_error("\"" + std::string(key) +
                                "\" is not a range: write FIRST-LAST with two addresses of the same family");
  U128 lo = to_u128(*first);
  U128 hi = to_u128(*last);
  if (hi < lo)
    return lib::permanent_error("the range \"" + std::string(key) + "\" ends before it starts");
  const unsigned bits = first->v4() ? 32 : 128;
  std::vector<std::string> keys;
  for (;;) {
    // The largest block aligned at lo that does not go past hi.
    unsigned len = bits;
    while (len > 0) {
      U128 mask = host_mask(bits, len - 1);
      if ((lo & mask) != 0) break;
      if (mask > hi - lo) break;
      --len;
    }
    if (auto r = expand_cidr(from_u128(lo, first->v4()), len, keys); !r) return r.error();
    U128 size_minus_1 = host_mask(bits, len);
    if (hi - lo <= size_minus_1) break;
    lo += size_minus_1 + 1;
  }
  return keys;
}

lib::Result<std::vector<std::string>> keys_for(std::string_view key) {
  if (key == "*") return std::vector<std::string>{"*"};
  if (key.size() > 2 && key.substr(0, 2) == "*.") {
    auto port = parse_number(key.substr(2), 65535);
    if (!port || *port == 0) return lib::permanent_error("bad port in \"" + std::string(key) + "\"");
    return std::vector<std::string>{std::string(key)};
  }
  if (key.find('/') != std::string_view::npos) return expand_cidr_text(key);
  if (key.find('-') != std::string_view::npos) return expand_range_text(key);
  // ":2002:c0a8" is Courier's form; "::1" or "::ffff:1.2.3.4" the usual notation.
  if (key.front() == ':' && !(key.size() > 1 && key[1] == ':')) {
    auto k = normalize_colon_key(key);
    if (!k) return k.error();
    return std::vector<std::string>{*k};
  }
  if (key.find(':') != std::string_view::npos) {
    auto a = parse_full_address(key);
    if (!a)
      return lib::permanent_error("\"" + std::string(key) +
                                  "\" is not an IPv6 address; write a prefix as :2001:0db8 or 2001:db8::/32");
    return std::vector<std::string>{access_key(*a)};
  }
  auto k = normalize_dotted_key(key);
  if (!k) return k.error();
  return std::vector<std::string>{*k};
}

}  // namespace

lib::Result<AccessRule> parse_access_action(std::string_view action) {
  action = trim(action);
  if (action.size() > access_max_action_bytes)
    return lib::permanent_error("the action is longer than " + std::to_string(access_max_action_bytes) + " bytes");
  AccessRule rule;
  if (action.substr(0, 4) == "deny") {
    if (action.size() != 4)
      return lib::permanent_error("nothing may follow \"deny\" (variables are set only with allow,VAR=value)");
    rule.allow = false;
    return rule;
  }
  if (action.substr(0, 5) != "allow")
    return lib::permanent_error("the action must be \"allow\", \"allow,VAR=value,...\" or \"deny\", not \"" +
                                std::string(action.substr(0, 40)) + "\"");
  std::string_view rest = action.substr(5);
  if (rest.empty()) return rule;
  if (rest.front() != ',')
    return lib::permanent_error("expected a comma after \"allow\", before the variables");
  rest.remove_prefix(1);

  size_t i = 0;
  for (;;) {
    // One item, up to a comma outside quotes.
    std::string item;
    char quote = 0;
    for (; i < rest.size(); ++i) {
      char c = rest[i];
      if (static_cast<unsigned char>(c) < 0x20 ? c != '\t' : c == 0x7f)
        return lib::permanent_error("control character in the action (byte " +
                                    std::to_string(static_cast<unsigned char>(c)) + ")");
      if (quote) {
        if (c == quote)
          quote = 0;
        else
          item += c;
        continue;
      }
      if (c == ',') break;
      if (c == '"' || c == '\'') {
        quote = c;
        continue;
      }
      item += c;
    }
    if (quote) return lib::permanent_error(std::string("unterminated ") + quote + " quote in the action");
    std::string_view it = trim(item);
    if (it.empty()) return lib::permanent_error("empty item in the variable list (two commas in a row?)");
    size_t eq = it.find('=');
    std::string_view name = trim(it.substr(0, eq));
    std::string_view value = eq == std::string_view::npos ? std::string_view() : it.substr(eq + 1);
    if (!lib::valid_setting_name(name))
      return lib::permanent_error("\"" + std::string(name.substr(0, 60)) +
                                  "\" is not a variable name (letters, digits and _, not starting with a digit)");
    if (rule.variables.size() >= access_max_variables)
      return lib::permanent_error("more than " + std::to_string(access_max_variables) + " variables");
    rule.variables.push_back({std::string(name), std::string(value)});
    if (i >= rest.size()) break;
    ++i;  // the comma
    if (i >= rest.size()) return lib::permanent_error("the action ends with a comma");
  }
  return rule;
}

lib::Result<std::vector<AccessRecord>> parse_access_line(std::string_view line) {
  line = trim(line);
  size_t blank = line.find_first_of(" \t");
  if (line.empty() || blank == std::string_view::npos)
    return lib::permanent_error("no action: write NETBLOCK<TAB>allow or NETBLOCK<TAB>deny");
  std::string_view key = line.substr(0, blank);
  std::string_view action = trim(line.substr(blank + 1));
  if (auto rule = parse_access_action(action); !rule) return rule.error();
  auto keys = keys_for(key);
  if (!keys) return keys.error();
  std::vector<AccessRecord> records;
  records.reserve(keys->size());
  for (auto& k : *keys) records.push_back({std::move(k), std::string(action)});
  return records;
}

lib::Result<size_t> compile_access_source(const std::string& source_path, const std::string& dat_path,
                                          std::vector<std::string>* warnings) {
  auto entries = lib::read_list_source(source_path);
  if (!entries) return entries.error();

  // Parse everything first: a bad line must leave the old .dat untouched.
  std::map<std::string, std::pair<std::string, std::string>> records;  // key -> (action, where)
  for (const auto& e : *entries) {
    std::string where = e.file + ":" + std::to_string(e.line);
    auto recs = parse_access_line(e.text);
    if (!recs) return lib::permanent_error(where + ": " + recs.error().message);
    for (auto& r : *recs) {
      auto [it, inserted] = records.try_emplace(r.key, r.action, where);
      if (!inserted) {
        if (warnings && it->second.second != where)
          warnings->push_back(where + ": " + r.key + " was already listed at " + it->second.second +
                              "; this later entry replaces it");
        it->second = {std::move(r.action), where};
      }
    }
  }

  auto builder = lib::DbBuilder::create(dat_path, 0644);
  if (!builder) return builder.error();
  for (const auto& [key, value] : records)
    if (auto r = builder->put(key, value.first); !r) return r.error();
  if (auto r = builder->commit(); !r) return r.error();
  return records.size();
}

lib::Result<AccessFile> AccessFile::open(const std::string& path) {
  auto db = lib::DbFile::open_read(path, "makesmtpaccess or makeimapaccess");
  if (!db) return db.error();
  return AccessFile(std::move(*db));
}

lib::Result<AccessDecision> AccessFile::decide(const std::vector<std::string>& keys) const {
  std::optional<lib::Error> read_error;
  std::string bad;
  AccessDecision d = decide_access(
      keys,
      [&](const std::string& key) -> std::optional<std::string> {
        if (read_error) return std::nullopt;
        auto v = db_.lookup(key);
        if (!v) {
          read_error = v.error();
          return std::nullopt;
        }
        return *v;
      },
      &bad);
  if (read_error) return *read_error;
  if (!bad.empty())
    return lib::permanent_error(db_.path() + ": entry " + bad + " (connection refused; fix the source and rebuild)");
  return d;
}

}  // namespace tcpd
