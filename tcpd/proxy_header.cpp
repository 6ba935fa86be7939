// tcpd/proxy_header.cpp: PROXY protocol v1 headers.
#include "tcpd/proxy_header.hpp"

#include <vector>

namespace tcpd {

namespace {

std::optional<uint16_t> port_number(std::string_view s) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

}  // namespace

std::optional<ProxyHeader> parse_proxy_v1(std::string_view line) {
  if (line.size() > proxy_v1_max_bytes || line.size() < 8 || line.substr(line.size() - 2) != "\r\n")
    return std::nullopt;
  line.remove_suffix(2);
  if (line.substr(0, 6) != "PROXY ") return std::nullopt;
  line.remove_prefix(6);
  if (line.substr(0, 7) == "UNKNOWN") {
    ProxyHeader h;
    h.unknown = true;
    return h;  // the rest of the line is to be ignored (section 2.1)
  }
  std::vector<std::string_view> f;
  size_t start = 0;
  while (start <= line.size()) {
    size_t sp = line.find(' ', start);
    f.push_back(line.substr(start, sp == std::string_view::npos ? line.npos : sp - start));
    if (sp == std::string_view::npos) break;
    start = sp + 1;
  }
  if (f.size() != 5) return std::nullopt;
  bool v4 = f[0] == "TCP4";
  if (!v4 && f[0] != "TCP6") return std::nullopt;
  auto src = IpAddress::parse(f[1]);
  auto dst = IpAddress::parse(f[2]);
  auto sport = port_number(f[3]);
  auto dport = port_number(f[4]);
  if (!src || !dst || !sport || !dport) return std::nullopt;
  // TCP4 must carry dotted quads; TCP6 IPv6 text (an IPv4-mapped one is accepted and becomes IPv4).
  bool v4_text = f[1].find(':') == std::string_view::npos && f[2].find(':') == std::string_view::npos;
  if (v4 != v4_text) return std::nullopt;
  ProxyHeader h;
  h.source = *src;
  h.destination = *dst;
  h.source_port = *sport;
  h.destination_port = *dport;
  return h;
}

}  // namespace tcpd
