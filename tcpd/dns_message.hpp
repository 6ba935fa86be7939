// tcpd/dns_message.hpp: the few DNS messages couriertcpd builds and reads
// itself, for DNS blocklist queries (A and TXT; RFC 5782 section 2): a query
// (RFC 1035 section 4.1) and the answers in a reply, following CNAMEs.
//
// SECURITY: replies come from the network (any host that can spoof a UDP
// packet from the nameserver's address). The decoder checks every length and
// offset, limits compression-pointer jumps and name lengths, and accepts a
// reply only when its id and question match the query sent. Replies are
// decoded in couriertcpd's lookup helper, as the mail user
// (tcpd/lookup_helper.hpp), never by the root daemon.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tcpd {

inline constexpr uint16_t dns_type_a = 1;
inline constexpr uint16_t dns_type_cname = 5;
inline constexpr uint16_t dns_type_ptr = 12;
inline constexpr uint16_t dns_type_mx = 15;
inline constexpr uint16_t dns_type_txt = 16;
inline constexpr uint16_t dns_type_aaaa = 28;
inline constexpr size_t dns_max_udp_bytes = 4096;
inline constexpr size_t dns_max_txt_bytes = 1024;  // one TXT value kept, joined strings

// Builds a standard recursive query (RD set) for name and qtype. nullopt when
// the name is not a valid DNS name (an empty label, a label over 63 bytes,
// over 253 bytes in all).
std::optional<std::string> encode_dns_query(uint16_t id, std::string_view name, uint16_t qtype);

// What a reply says about a query.
struct DnsAnswer {
  enum class Status {
    ok,         // records of the type asked for
    not_found,  // NXDOMAIN, or no records of that type (NODATA)
    failed,     // SERVFAIL, REFUSED, timeout, malformed or truncated reply
  };
  Status status = Status::failed;
  std::vector<std::array<uint8_t, 4>> a;  // A records of the name (or its CNAME targets)
  std::vector<std::string> txt;           // TXT records: each record's strings joined
  std::vector<std::string> mx;            // MX records: the exchange host names (esmtpd's BOFHCHECKDNS)
};

// Decodes a reply to (id, qname, qtype). nullopt when the packet is not a
// reply to that query (wrong id, question or not a response): the caller keeps
// waiting for the real one. A reply that is malformed after its question
// yields status failed.
std::optional<DnsAnswer> decode_dns_reply(std::span<const uint8_t> packet, uint16_t id, std::string_view qname,
                                          uint16_t qtype);

// Compares DNS names without regard to ASCII case or a trailing dot.
bool dns_names_equal(std::string_view a, std::string_view b);

}  // namespace tcpd
