// tcpd/address.cpp: IP addresses, access-file keys and DNS query names.
#include "tcpd/address.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

namespace tcpd {

namespace {

bool is_v4_mapped(const uint8_t* b) {
  static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(b, prefix, sizeof prefix) == 0;
}

IpAddress from_v6_bytes(const uint8_t* b) {
  IpAddress a;
  if (is_v4_mapped(b)) {
    a.family = IpAddress::Family::v4;
    std::memcpy(a.bytes.data(), b + 12, 4);
  } else {
    a.family = IpAddress::Family::v6;
    std::memcpy(a.bytes.data(), b, 16);
  }
  return a;
}

// Strict dotted quad: four decimal octets 0..255 without leading zeros
// (inet_pton accepts those too, but an access key "010" would never match).
std::optional<std::array<uint8_t, 4>> parse_dotted_quad(std::string_view text) {
  std::array<uint8_t, 4> out{};
  size_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
    size_t start = i;
    unsigned value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
    }
    size_t len = i - start;
    if (len == 0 || value > 255 || (len > 1 && text[start] == '0')) return std::nullopt;
    out[octet] = static_cast<uint8_t>(value);
  }
  if (i != text.size()) return std::nullopt;
  return out;
}

const char hex_digits[] = "0123456789abcdef";

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (auto quad = parse_dotted_quad(text)) {
    IpAddress a;
    a.family = Family::v4;
    std::memcpy(a.bytes.data(), quad->data(), 4);
    return a;
  }
  if (text.empty() || text.size() > INET6_ADDRSTRLEN || text.find(':') == std::string_view::npos)
    return std::nullopt;
  std::string copy(text);
  in6_addr in6{};
  if (inet_pton(AF_INET6, copy.c_str(), &in6) != 1) return std::nullopt;
  return from_v6_bytes(in6.s6_addr);
}

std::optional<IpAddress> IpAddress::from_sockaddr(const sockaddr* sa, socklen_t len, uint16_t* port) {
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in sin;
    std::memcpy(&sin, sa, sizeof sin);
    IpAddress a;
    a.family = Family::v4;
    std::memcpy(a.bytes.data(), &sin.sin_addr, 4);
    if (port) *port = ntohs(sin.sin_port);
    return a;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, sa, sizeof sin6);
    if (port) *port = ntohs(sin6.sin6_port);
    return from_v6_bytes(sin6.sin6_addr.s6_addr);
  }
  return std::nullopt;
}

socklen_t IpAddress::to_sockaddr(sockaddr_storage& ss, uint16_t port) const {
  std::memset(&ss, 0, sizeof ss);
  if (v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    std::memcpy(&sin.sin_addr, bytes.data(), 4);
    std::memcpy(&ss, &sin, sizeof sin);
    return sizeof sin;
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  std::memcpy(sin6.sin6_addr.s6_addr, bytes.data(), 16);
  std::memcpy(&ss, &sin6, sizeof sin6);
  return sizeof sin6;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  const char* r = v4() ? inet_ntop(AF_INET, bytes.data(), buf, sizeof buf)
                       : inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return r ? std::string(r) : std::string();
}

std::string access_key(const IpAddress& addr) {
  if (addr.v4()) return addr.to_string();
  std::string key;
  key.reserve(40);
  for (size_t i = 0; i < 16; i += 2) {
    key += ':';
    key += hex_digits[addr.bytes[i] >> 4];
    key += hex_digits[addr.bytes[i] & 15];
    key += hex_digits[addr.bytes[i + 1] >> 4];
    key += hex_digits[addr.bytes[i + 1] & 15];
  }
  return key;
}

std::vector<std::string> access_lookup_keys(const IpAddress& addr, std::optional<uint16_t> port) {
  std::vector<std::string> keys;
  std::string key = access_key(addr);
  if (port) keys.push_back(key + "." + std::to_string(*port));
  // Courier strips the last ".octet" (IPv4) or ":group" (IPv6) until nothing is left.
  const char sep = addr.v4() ? '.' : ':';
  while (!key.empty()) {
    keys.push_back(key);
    size_t cut = key.rfind(sep);
    if (cut == std::string::npos || cut == 0) break;
    key.resize(cut);
  }
  if (port) keys.push_back("*." + std::to_string(*port));
  keys.emplace_back("*");
  return keys;
}

namespace {

std::string reversed_labels(const IpAddress& addr) {
  std::string out;
  if (addr.v4()) {
    for (int i = 3; i >= 0; --i) {
      out += std::to_string(addr.bytes[static_cast<size_t>(i)]);
      out += '.';
    }
    return out;
  }
  out.reserve(64);
  for (int i = 15; i >= 0; --i) {
    uint8_t b = addr.bytes[static_cast<size_t>(i)];
    out += hex_digits[b & 15];
    out += '.';
    out += hex_digits[b >> 4];
    out += '.';
  }
  return out;
}

}  // namespace

std::string reverse_lookup_name(const IpAddress& addr) {
  return reversed_labels(addr) + (addr.v4() ? "in-addr.arpa" : "ip6.arpa");
}

std::string blocklist_query_name(const IpAddress& addr, std::string_view zone) {
  return reversed_labels(addr) + std::string(zone);
}

bool same_c_block(const IpAddress& a, const IpAddress& b) {
  if (a.family != b.family) return false;
  size_t n = a.v4() ? 3 : 8;
  return std::memcmp(a.bytes.data(), b.bytes.data(), n) == 0;
}

size_t IpAddressHash::operator()(const IpAddress& a) const noexcept {
  // FNV-1a over the family and the bytes.
  uint64_t h = 1469598103934665603ULL ^ static_cast<uint64_t>(a.family);
  for (uint8_t b : a.bytes) {
    h ^= b;
    h *= 1099511628211ULL;
  }
  return static_cast<size_t>(h);
}

}  // namespace tcpd
