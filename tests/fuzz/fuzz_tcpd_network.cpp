// tests/fuzz/fuzz_tcpd_network.cpp: what couriertcpd reads from the
// network: DNS replies, ident replies and PROXY v1 headers
// (tcpd/dns_message.hpp, tcpd/ident.hpp, tcpd/proxy_header.hpp) on arbitrary
// bytes, as a hostile nameserver, ident server or client could send them.
// Invariants: no crash, no hang; decoded answers respect their size limits;
// an ident user id is non-empty, bounded and free of control characters; a
// PROXY header that parses was at most 107 bytes and names valid ports.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "tcpd/dns_message.hpp"
#include "tcpd/ident.hpp"
#include "tcpd/proxy_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> packet(data, size);
  // The first two bytes are the id a query would have used; try both types.
  uint16_t id = size >= 2 ? static_cast<uint16_t>((data[0] << 8) | data[1]) : 0;
  for (uint16_t type : {tcpd::dns_type_a, tcpd::dns_type_txt}) {
    auto answer = tcpd::decode_dns_reply(packet, id, "2.0.0.127.bl.example", type);
    if (!answer) continue;
    if (answer->txt.size() > 16) std::abort();
    for (const auto& t : answer->txt)
      if (t.size() > tcpd::dns_max_txt_bytes) std::abort();
    if (answer->status == tcpd::DnsAnswer::Status::ok && answer->a.empty() && answer->txt.empty()) std::abort();
  }
  std::string_view line(reinterpret_cast<const char*>(data), size);
  if (auto user = tcpd::parse_ident_reply(line, 6193, 23)) {
    if (user->empty() || user->size() > tcpd::ident_max_userid_bytes) std::abort();
    for (char c : *user)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
  }
  if (auto h = tcpd::parse_proxy_v1(line)) {
    if (size > tcpd::proxy_v1_max_bytes) std::abort();
    // TCP4 carries two IPv4 addresses (TCP6 may carry IPv4-mapped ones, which become IPv4).
    if (!h->unknown && line.substr(6, 4) == "TCP4" && !(h->source.v4() && h->destination.v4())) std::abort();
  }
  return 0;
}
