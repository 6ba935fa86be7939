// imapd/imap_url.cpp: IMAP URL parser (see imap_url.hpp).
#include "imapd/imap_url.hpp"

#include <charconv>
#include <vector>

#include "lib/ascii.hpp"

namespace imapd {
namespace {

constexpr std::size_t max_url_bytes = 8192;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; nullopt for a bad escape or a decoded NUL or control.
std::optional<std::string> decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
    out += c;
  }
  return out;
}

std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::uint32_t> nz_number32(std::string_view s) {
  auto v = number(s);
  if (!v || *v == 0 || *v > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(*v);
}

bool valid_access(std::string_view a) {
  if (lib::ascii::iequals(a, "anonymous") || lib::ascii::iequals(a, "authuser")) return true;
  for (std::string_view p : {"user+", "submit+"})
    if (lib::ascii::istarts_with(a, p) && a.size() > p.size()) return true;
  return false;
}

bool all_hex(std::string_view s) {
  for (char c : s)
    if (hex_value(c) < 0) return false;
  return true;
}

// One ";NAME=value" parameter: name, value (without a "/" that ends it),
// whether a "/" ended it, and where in the text the value ends.
struct Param {
  std::string_view name, value;
  bool slash_after = false;
  std::size_t value_end = 0;
};

}  // namespace

std::optional<std::time_t> parse_rfc3339(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
  if (t.size() < 20) return std::nullopt;
  auto digits = [&](std::size_t pos, std::size_t n) -> std::optional<int> {
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return std::nullopt;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2),
       s = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') ||
      t[13] != ':' || t[16] != ':')
    return std::nullopt;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  std::size_t pos = 19;
  if (t[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  long offset = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 == t.size() && (t[pos] == '+' || t[pos] == '-') && t[pos + 3] == ':') {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
    offset = (*oh * 60 + *om) * 60L * (t[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != t.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = *h;
  tm.tm_min = *mi;
  tm.tm_sec = *s;
  std::time_t utc = ::timegm(&tm);
  return utc - offset;
}

std::optional<ImapUrl> parse_imap_url(std::string_view text, std::string& error) {
  error.clear();
  if (text.size() > max_url_bytes) {
    error = "URL too long";
    return std::nullopt;
  }
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      error = "URL contains a space, control or 8-bit character";
      return std::nullopt;
    }
  }
  ImapUrl url;
  std::size_t pos = 0;  // start of the mailbox
  if (lib::ascii::istarts_with(text, "imap://")) {
    url.absolute = true;
    std::size_t auth_end = text.find('/', 7);
    if (auth_end == std::string_view::npos) {
      error = "URL names no mailbox";
      return std::nullopt;
    }
    std::string_view authority = text.substr(7, auth_end - 7);
    std::size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      std::string_view user = authority.substr(0, at);
      std::size_t semi = user.find(';');
      if (semi != std::string_view::npos) user = user.substr(0, semi);  // ";AUTH=..."
      auto u = decode(user);
      if (!u || u->empty()) {
        error = "invalid user in URL";
        return std::nullopt;
      }
      url.user = std::move(*u);
      authority.remove_prefix(at + 1);
    }
    std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
      if (!number(authority.substr(colon + 1))) {
        error = "invalid port in URL";
        return std::nullopt;
      }
      authority = authority.substr(0, colon);
    }
    if (authority.empty()) {
      error = "URL names no host";
      return std::nullopt;
    }
    url.host = std::string(authority);
    pos = auth_end + 1;
  } else if (!text.empty() && text[0] == '/') {
    pos = 1;
  } else {
    error = "not an IMAP URL (imap://... or /mailbox/;UID=...)";
    return std::nullopt;
  }
  if (text.find('?', pos) != std::string_view::npos) {
    error = "search URLs are not supported";
    return std::nullopt;
  }
  std::size_t semi = text.find(';', pos);
  if (semi == std::string_view::npos) {
    error = "URL names no message (;UID= missing)";
    return std::nullopt;
  }
  std::string_view mailbox = text.substr(pos, semi - pos);
  bool slash = !mailbox.empty() && mailbox.back() == '/';
  if (slash) mailbox.remove_suffix(1);
  auto mb = decode(mailbox);
  if (!mb || mb->empty()) {
    error = "invalid or empty mailbox in URL";
    return std::nullopt;
  }
  url.mailbox = std::move(*mb);
  // The parameters, in RFC 5092's order: ;UIDVALIDITY= (no "/" before it),
  // /;UID=, /;SECTION=, /;PARTIAL=, ;EXPIRE=, ;URLAUTH=.
  std::vector<Param> params;
  std::vector<bool> slash_before;
  bool prev_slash = slash;
  std::size_t p = semi;
  while (p < text.size()) {
    // text[p] == ';'
    std::size_t end = text.find(';', p + 1);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(p + 1, end - p - 1);
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      error = "URL parameter without '='";
      return std::nullopt;
    }
    Param prm;
    prm.name = item.substr(0, eq);
    prm.value = item.substr(eq + 1);
    prm.value_end = end;
    // URLAUTH's value runs to the end (its access id may hold anything but ';').
    if (!prm.value.empty() && prm.value.back() == '/' && !lib::ascii::iequals(prm.name, "URLAUTH")) {
      prm.slash_after = true;
      prm.value.remove_suffix(1);
      prm.value_end = end - 1;
    }
    slash_before.push_back(prev_slash);
    prev_slash = prm.slash_after;
    params.push_back(prm);
    p = end;
  }
  if (prev_slash) {
    error = "URL ends with '/'";
    return std::nullopt;
  }
  const std::string_view order[] = {"UIDVALIDITY", "UID", "SECTION", "PARTIAL", "EXPIRE", "URLAUTH"};
  const bool needs_slash[] = {false, true, true, true, false, false};
  std::size_t next = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Param& prm = params[i];
    std::size_t k = next;
    while (k < std::size(order) && !lib::ascii::iequals(prm.name, order[k])) ++k;
    if (k == std::size(order)) {
      error = "unknown or misplaced URL parameter ;" + std::string(prm.name);
      return std::nullopt;
    }
    if (slash_before[i] != needs_slash[k]) {
      error = "misplaced '/' before ;" + std::string(prm.name);
      return std::nullopt;
    }
    next = k + 1;
    switch (k) {
      case 0: {
        auto v = nz_number32(prm.value);
        if (!v) {
          error = "invalid UIDVALIDITY in URL";
          return std::nullopt;
        }
        url.uidvalidity = v;
        break;
      }
      case 1: {
        auto v = nz_number32(prm.value);
        if (!v) {
          error = "invalid UID in URL";
          return std::nullopt;
        }
        url.uid = *v;
        break;
      }
      case 2: {
        auto v = decode(prm.value);
        if (!v || v->empty()) {
          error = "invalid SECTION in URL";
          return std::nullopt;
        }
        url.section = std::move(*v);
        break;
      }
      case 3: {
        std::string_view v = prm.value;
        std::size_t dot = v.find('.');
        auto origin = number(v.substr(0, dot));
        Partial part;
        if (!origin || *origin > 0xffffffffu) {
          error = "invalid PARTIAL in URL";
          return std::nullopt;
        }
        part.origin = static_cast<std::uint32_t>(*origin);
        if (dot != std::string_view::npos) {
          auto count = nz_number32(v.substr(dot + 1));
          if (!count) {
            error = "invalid PARTIAL length in URL";
            return std::nullopt;
          }
          part.count = *count;
        }
        url.partial = part;
        break;
      }
      case 4: {
        auto v = decode(prm.value);
        auto t = v ? parse_rfc3339(*v) : std::nullopt;
        if (!t) {
          error = "invalid EXPIRE in URL";
          return std::nullopt;
        }
        url.expire = t;
        break;
      }
      case 5: {
        std::string_view v = prm.value;
        std::size_t c1 = v.find(':');
        std::string_view access = v.substr(0, c1);
        auto a = decode(access);
        if (!a || !valid_access(*a)) {
          error = "invalid URLAUTH access identifier";
          return std::nullopt;
        }
        url.has_urlauth = true;
        url.access = std::move(*a);
        std::size_t value_start = prm.value_end - prm.value.size();
        url.rump = std::string(text.substr(0, value_start + access.size()));
        if (c1 != std::string_view::npos) {
          std::string_view rest = v.substr(c1 + 1);
          std::size_t c2 = rest.find(':');
          if (c2 == std::string_view::npos || c2 == 0) {
            error = "URLAUTH needs mechanism:token";
            return std::nullopt;
          }
          url.mechanism = std::string(rest.substr(0, c2));
          url.token = std::string(rest.substr(c2 + 1));
          if (url.token.size() < 32 || !all_hex(url.token)) {
            error = "invalid URLAUTH token";
            return std::nullopt;
          }
        }
        break;
      }
    }
  }
  if (url.uid == 0) {
    error = "URL names no message (;UID= missing)";
    return std::nullopt;
  }
  return url;
}

bool url_names_account(const ImapUrl& url, std::string_view login) {
  if (url.user.empty()) return false;
  if (url.user == login) return true;
  std::size_t at = login.rfind('@');
  return at != std::string_view::npos && login.substr(0, at) == url.user &&
         lib::ascii::iequals(login.substr(at + 1), url.host);
}

std::string access_user(std::string_view access) {
  for (std::string_view p : {"user+", "submit+"})
    if (lib::ascii::istarts_with(access, p)) return std::string(access.substr(p.size()));
  return {};
}

}  // namespace imapd
