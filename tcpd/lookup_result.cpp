// tcpd/lookup_result.cpp: the lookup helper's result format (see
// lookup_result.hpp). The parser is what the root daemon runs on the
// helper's bytes: it accepts exactly the format and nothing else.
#include "tcpd/lookup_result.hpp"

#include <algorithm>

#include "tcpd/blocklist.hpp"
#include "tcpd/ident.hpp"

namespace tcpd {

namespace {

constexpr std::array<std::pair<DropReason, std::string_view>, 6> drop_words{{
    {DropReason::no_header, "noheader"},
    {DropReason::timeout, "timeout"},
    {DropReason::malformed, "malformed"},
    {DropReason::too_long, "toolong"},
    {DropReason::read_error, "readerror"},
    {DropReason::closed, "closed"},
}};

std::string printable(std::string_view v, size_t max) { return env_safe(v.substr(0, max)); }

bool is_printable(std::string_view v) {
  return std::none_of(v.begin(), v.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string_view status_word(DnsAnswer::Status s) {
  switch (s) {
    case DnsAnswer::Status::ok:
      return "ok";
    case DnsAnswer::Status::not_found:
      return "notfound";
    case DnsAnswer::Status::failed:
      break;
  }
  return "failed";
}

std::string dotted(const std::array<uint8_t, 4>& a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

// A decimal number without sign or leading zeros, at most max.
std::optional<unsigned> number(std::string_view s, unsigned max) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// Splits at single spaces into exactly n fields (the last one is the rest
// when rest_is_text).
std::optional<std::vector<std::string_view>> fields(std::string_view s, size_t n, bool rest_is_text) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    size_t sp = s.find(' ');
    if (sp == std::string_view::npos || sp == 0) return std::nullopt;
    out.push_back(s.substr(0, sp));
    s.remove_prefix(sp + 1);
  }
  if (!rest_is_text && (s.empty() || s.find(' ') != std::string_view::npos)) return std::nullopt;
  out.push_back(s);
  return out;
}

}  // namespace

std::string_view drop_reason_word(DropReason r) {
  for (const auto& [reason, word] : drop_words)
    if (reason == r) return word;
  return "malformed";
}

std::string_view drop_reason_text(DropReason r) {
  switch (r) {
    case DropReason::no_header:
      return "no PROXY header (the port expects one: -haproxy)";
    case DropReason::timeout:
      return "no PROXY header in time";
    case DropReason::malformed:
      return "a malformed PROXY header";
    case DropReason::too_long:
      return "a PROXY header longer than 107 bytes";
    case DropReason::read_error:
      return "a read error";
    case DropReason::closed:
      return "the connection closed before its PROXY header";
  }
  return "a malformed PROXY header";
}

bool valid_host_name(std::string_view name) {
  return !name.empty() && name.size() <= 253 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_';
  });
}

std::string encode_lookup_result(const LookupResult& r) {
  std::string out;
  switch (r.proxy) {
    case LookupResult::Proxy::none:
      break;
    case LookupResult::Proxy::unknown:
      out += "P UNKNOWN\n";
      break;
    case LookupResult::Proxy::addresses:
      out += "P " + r.source.to_string() + " " + std::to_string(r.source_port) + " " + r.destination.to_string() +
             " " + std::to_string(r.destination_port) + "\n";
      break;
    case LookupResult::Proxy::dropped:
      out += "D " + std::string(drop_reason_word(r.drop)) + "\n";
      break;
  }
  if (r.ident && !r.ident->empty()) out += "I " + printable(*r.ident, ident_max_userid_bytes) + "\n";
  if (r.remote_host && valid_host_name(*r.remote_host)) out += "R " + *r.remote_host + "\n";
  if (r.local_host && valid_host_name(*r.local_host))
    out += "L " + *r.local_host + (r.local_host_cacheable ? " 1\n" : " 0\n");
  else if (r.local_host_cacheable)
    out += "L - 1\n";  // looked up, no name: worth caching too
  for (size_t i = 0; i < r.answers.size() && i < lookup_result_max_blocklists; ++i) {
    if (!r.answers[i]) continue;
    const DnsAnswer& a = *r.answers[i];
    const std::string n = std::to_string(i);
    out += "B " + n + " " + std::string(status_word(a.status)) + "\n";
    if (a.status != DnsAnswer::Status::ok) continue;
    for (size_t k = 0; k < a.a.size() && k < lookup_result_max_a; ++k) out += "A " + n + " " + dotted(a.a[k]) + "\n";
    if (!a.txt.empty()) out += "T " + n + " " + printable(a.txt.front(), dns_max_txt_bytes) + "\n";
  }
  out += "E\n";
  return out;
}

std::optional<LookupResult> parse_lookup_result(std::string_view text, size_t blocklists, std::string* why) {
  std::string scratch;
  if (!why) why = &scratch;
  auto fail = [&](size_t line, const std::string& what) -> std::optional<LookupResult> {
    *why = line ? "line " + std::to_string(line) + ": " + what : what;
    return std::nullopt;
  };
  if (text.size() > lookup_result_max_bytes)
    return fail(0, "longer than " + std::to_string(lookup_result_max_bytes) + " bytes");
  if (blocklists > lookup_result_max_blocklists) return fail(0, "too many blocklist options");
  LookupResult r;
  r.answers.resize(blocklists);
  std::vector<bool> txt_seen(blocklists);
  bool proxy_seen = false, local_seen = false, ended = false;
  size_t lineno = 0;
  while (!text.empty()) {
    ++lineno;
    if (ended) return fail(lineno, "data after the end line");
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return fail(lineno, "no newline");
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (line == "E") {
      ended = true;
      continue;
    }
    if (line.size() < 3 || line[1] != ' ') return fail(lineno, "not \"TAG value\"");
    char tag = line[0];
    std::string_view value = line.substr(2);
    switch (tag) {
      case 'P': {
        if (proxy_seen) return fail(lineno, "a second P/D line");
        proxy_seen = true;
        if (value == "UNKNOWN") {
          r.proxy = LookupResult::Proxy::unknown;
          break;
        }
        auto f = fields(value, 4, false);
        if (!f) return fail(lineno, "P needs 4 fields");
        auto src = IpAddress::parse((*f)[0]);
        auto dst = IpAddress::parse((*f)[2]);
        auto sport = number((*f)[1], 65535);
        auto dport = number((*f)[3], 65535);
        if (!src || !dst || !sport || !dport) return fail(lineno, "bad P address or port");
        r.proxy = LookupResult::Proxy::addresses;
        r.source = *src;
        r.destination = *dst;
        r.source_port = static_cast<uint16_t>(*sport);
        r.destination_port = static_cast<uint16_t>(*dport);
        break;
      }
      case 'D': {
        if (proxy_seen) return fail(lineno, "a second P/D line");
        proxy_seen = true;
        auto it = std::find_if(drop_words.begin(), drop_words.end(), [&](const auto& w) { return w.second == value; });
        if (it == drop_words.end()) return fail(lineno, "unknown drop reason");
        r.proxy = LookupResult::Proxy::dropped;
        r.drop = it->first;
        break;
      }
      case 'I':
        if (r.ident) return fail(lineno, "a second I line");
        if (value.size() > ident_max_userid_bytes || !is_printable(value)) return fail(lineno, "bad user id");
        r.ident = std::string(value);
        break;
      case 'R':
        if (r.remote_host) return fail(lineno, "a second R line");
        if (!valid_host_name(value)) return fail(lineno, "bad host name");
        r.remote_host = std::string(value);
        break;
      case 'L': {
        if (local_seen) return fail(lineno, "a second L line");
        local_seen = true;
        auto f = fields(value, 2, false);
        bool none = f && (*f)[0] == "-";
        if (!f || (!none && !valid_host_name((*f)[0])) || ((*f)[1] != "0" && (*f)[1] != "1"))
          return fail(lineno, "bad L line");
        if (!none) r.local_host = std::string((*f)[0]);
        r.local_host_cacheable = (*f)[1] == "1";
        break;
      }
      case 'B':
      case 'A':
      case 'T': {
        auto f = fields(value, 2, tag == 'T');
        if (!f) return fail(lineno, "needs an option number and a value");
        auto n = number((*f)[0], 65535);
        if (!n || *n >= blocklists) return fail(lineno, "no such blocklist option");
        auto& answer = r.answers[*n];
        std::string_view v = (*f)[1];
        if (tag == 'B') {
          if (answer) return fail(lineno, "a second B line for one option");
          DnsAnswer a;
          if (v == "ok") a.status = DnsAnswer::Status::ok;
          else if (v == "notfound") a.status = DnsAnswer::Status::not_found;
          else if (v == "failed") a.status = DnsAnswer::Status::failed;
          else return fail(lineno, "unknown answer status");
          answer = std::move(a);
          break;
        }
        if (!answer || answer->status != DnsAnswer::Status::ok) return fail(lineno, "A/T without an ok B line");
        if (tag == 'A') {
          auto ip = IpAddress::parse(v);
          if (!ip || !ip->v4() || v.find(':') != std::string_view::npos) return fail(lineno, "bad A record");
          if (answer->a.size() >= lookup_result_max_a) return fail(lineno, "too many A records");
          answer->a.push_back({ip->bytes[0], ip->bytes[1], ip->bytes[2], ip->bytes[3]});
        } else {
          if (txt_seen[*n]) return fail(lineno, "a second T line for one option");
          txt_seen[*n] = true;
          if (v.size() > dns_max_txt_bytes || !is_printable(v)) return fail(lineno, "bad TXT record");
          answer->txt.emplace_back(v);
        }
        break;
      }
      default:
        return fail(lineno, "unknown tag");
    }
  }
  if (!ended) return fail(0, "no end line (the helper stopped early)");
  return r;
}

}  // namespace tcpd
