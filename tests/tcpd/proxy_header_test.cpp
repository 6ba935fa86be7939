// tests/tcpd/proxy_header_test.cpp: PROXY protocol v1 headers.
#include "tcpd/proxy_header.hpp"

#include <gtest/gtest.h>

namespace tcpd {
namespace {

TEST(ProxyHeaderTest, Table) {
  struct Case {
    const char* label;
    std::string line;
    bool ok;
    bool unknown;
    const char* src;
    uint16_t sport;
    const char* dst;
    uint16_t dport;
  } cases[] = {
      {"tcp4", "PROXY TCP4 192.0.2.1 198.51.100.1 56324 25\r\n", true, false, "192.0.2.1", 56324, "198.51.100.1", 25},
      {"tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", true, false, "2001:db8::1", 1, "2001:db8::2", 65535},
      {"unknown", "PROXY UNKNOWN\r\n", true, true, "", 0, "", 0},
      {"unknown with addresses", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", true, true, "", 0, "", 0},
      {"no crlf", "PROXY TCP4 192.0.2.1 198.51.100.1 56324 25\n", false, false, "", 0, "", 0},
      {"lower case", "proxy TCP4 192.0.2.1 198.51.100.1 56324 25\r\n", false, false, "", 0, "", 0},
      {"family mismatch", "PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n", false, false, "", 0, "", 0},
      {"family mismatch 6", "PROXY TCP6 192.0.2.1 198.51.100.1 1 2\r\n", false, false, "", 0, "", 0},
      {"port too big", "PROXY TCP4 192.0.2.1 198.51.100.1 65536 25\r\n", false, false, "", 0, "", 0},
      {"leading zero port", "PROXY TCP4 192.0.2.1 198.51.100.1 025 25\r\n", false, false, "", 0, "", 0},
      {"double space", "PROXY TCP4  192.0.2.1 198.51.100.1 1 25\r\n", false, false, "", 0, "", 0},
      {"missing field", "PROXY TCP4 192.0.2.1 198.51.100.1 1\r\n", false, false, "", 0, "", 0},
      {"extra field", "PROXY TCP4 192.0.2.1 198.51.100.1 1 2 3\r\n", false, false, "", 0, "", 0},
      {"bad address", "PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n", false, false, "", 0, "", 0},
      {"udp", "PROXY UDP4 192.0.2.1 198.51.100.1 1 2\r\n", false, false, "", 0, "", 0},
      {"too long", "PROXY UNKNOWN " + std::string(100, 'x') + "\r\n", false, false, "", 0, "", 0},
      {"empty", "", false, false, "", 0, "", 0},
      {"v2 signature", std::string("\r\n\r\n\0\r\nQUIT\n", 12), false, false, "", 0, "", 0},
  };
  for (const auto& c : cases) {
    auto h = parse_proxy_v1(c.line);
    ASSERT_EQ(h.has_value(), c.ok) << c.label;
    if (!h) continue;
    EXPECT_EQ(h->unknown, c.unknown) << c.label;
    if (c.unknown) continue;
    EXPECT_EQ(h->source.to_string(), c.src) << c.label;
    EXPECT_EQ(h->source_port, c.sport) << c.label;
    EXPECT_EQ(h->destination.to_string(), c.dst) << c.label;
    EXPECT_EQ(h->destination_port, c.dport) << c.label;
  }
}

}  // namespace
}  // namespace tcpd
