// tcpd/address.hpp: IP addresses as couriertcpd sees them, and the keys it
// derives from them: access-file keys in Courier's syntax (dotted IPv4
// prefixes, ":hhhh:hhhh..." zero-padded IPv6 groups), DNS names for reverse
// lookups (RFC 1035 section 3.5 in-addr.arpa, RFC 3596 section 2.5 ip6.arpa)
// and DNS blocklists (RFC 5782 section 2.1 and 2.4), and the "C block"
// used by -maxperc.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <vector>

namespace tcpd {

struct IpAddress {
  enum class Family { v4, v6 };
  Family family = Family::v4;
  // IPv4: the first 4 bytes (network order), the rest zero. IPv6: all 16.
  std::array<uint8_t, 16> bytes{};

  bool v4() const noexcept { return family == Family::v4; }

  // Parses dotted-quad IPv4 ("192.168.0.1", no leading zeros) or IPv6 text
  // (RFC 4291 section 2.2, as inet_pton accepts it). An IPv4-mapped IPv6
  // address (::ffff:a.b.c.d) becomes the IPv4 address, as Courier treats it.
  static std::optional<IpAddress> parse(std::string_view text);
  // From an accepted socket's address; IPv4-mapped IPv6 becomes IPv4.
  // nullopt for other families. port receives the port when given.
  static std::optional<IpAddress> from_sockaddr(const sockaddr* sa, socklen_t len,
                                                uint16_t* port = nullptr);
  // Fills a sockaddr_in or sockaddr_in6 for this address and port; returns its length.
  socklen_t to_sockaddr(sockaddr_storage& ss, uint16_t port) const;

  // "192.168.0.1" or the RFC 5952 form of an IPv6 address ("2001:db8::1").
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// The access-file key of the whole address: "192.168.0.1", or for IPv6
// ":2001:0db8:0000:0000:0000:0000:0000:0001" (a colon, then eight
// zero-padded lowercase groups), as couriertcpd(1) writes them.
std::string access_key(const IpAddress& addr);

// The keys couriertcpd looks up in an access file for this address, most
// specific first: the whole address, then shorter prefixes (one octet or one
// group less each time), then "*". With a port (-accesslocal, for the local
// end), "ADDRESS.port" comes first and "*.port" just before "*".
std::vector<std::string> access_lookup_keys(const IpAddress& addr,
                                            std::optional<uint16_t> port = std::nullopt);

// The name a reverse (PTR) lookup queries: "4.3.2.1.in-addr.arpa" or the
// 32-nibble "....ip6.arpa" name.
std::string reverse_lookup_name(const IpAddress& addr);

// The name a DNS blocklist query asks for: the address reversed (octets for
// IPv4, nibbles for IPv6), then zone: "4.3.2.1.dnsbl.example.com".
std::string blocklist_query_name(const IpAddress& addr, std::string_view zone);

// Whether a and b are in the same "C block" for -maxperc: the same /24 for
// IPv4, the same /64 for IPv6 (one site's subnet; Courier compares 15 of 16
// bytes, which a single IPv6 host could step around).
bool same_c_block(const IpAddress& a, const IpAddress& b);

// A key for hashing: family and bytes.
struct IpAddressHash {
  size_t operator()(const IpAddress& a) const noexcept;
};

}  // namespace tcpd
