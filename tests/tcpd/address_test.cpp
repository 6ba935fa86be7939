// tests/tcpd/address_test.cpp: addresses, access keys, DNS names, C blocks.
#include "tcpd/address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace tcpd {
namespace {

struct ParseCase {
  const char* label;
  const char* text;
  bool ok;
  const char* canonical;  // to_string()
  bool v4;
};

TEST(AddressTest, Parse) {
  const ParseCase cases[] = {
      {"ipv4", "192.168.0.1", true, "192.168.0.1", true},
      {"ipv4 zeros", "0.0.0.0", true, "0.0.0.0", true},
      {"ipv4 max", "255.255.255.255", true, "255.255.255.255", true},
      {"ipv6 loopback", "::1", true, "::1", false},
      {"ipv6 long form", "2001:0DB8:0:0:0:0:0:1", true, "2001:db8::1", false},
      {"v4 mapped becomes v4", "::ffff:10.1.2.3", true, "10.1.2.3", true},
      {"leading zero octet", "010.1.1.1", false, "", false},
      {"octet too big", "256.1.1.1", false, "", false},
      {"three octets", "1.2.3", false, "", false},
      {"five octets", "1.2.3.4.5", false, "", false},
      {"trailing dot", "1.2.3.4.", false, "", false},
      {"empty", "", false, "", false},
      {"garbage", "hello", false, "", false},
      {"ipv6 bad", "2001:::1", false, "", false},
      {"ipv6 too long", "1:2:3:4:5:6:7:8:9", false, "", false},
      {"spaces", " 1.2.3.4", false, "", false},
      {"huge", std::string(5000, '1').c_str(), false, "", false},
  };
  for (const auto& c : cases) {
    auto a = IpAddress::parse(c.text);
    EXPECT_EQ(a.has_value(), c.ok) << c.label;
    if (a && c.ok) {
      EXPECT_EQ(a->to_string(), c.canonical) << c.label;
      EXPECT_EQ(a->v4(), c.v4) << c.label;
    }
  }
}

TEST(AddressTest, FromSockaddrNormalizesMapped) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(1234);
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6.sin6_addr);
  uint16_t port = 0;
  auto a = IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sin6), sizeof sin6, &port);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->v4());
  EXPECT_EQ(a->to_string(), "127.0.0.1");
  EXPECT_EQ(port, 1234);
  // Too short a length is refused.
  EXPECT_FALSE(IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sin6), 4));
  sockaddr_storage ss;
  socklen_t len = a->to_sockaddr(ss, 99);
  auto back = IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len, &port);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *a);
  EXPECT_EQ(port, 99);
}

TEST(AddressTest, AccessKeyIsCouriersForm) {
  EXPECT_EQ(access_key(*IpAddress::parse("10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(access_key(*IpAddress::parse("::1")), ":0000:0000:0000:0000:0000:0000:0000:0001");
  EXPECT_EQ(access_key(*IpAddress::parse("2001:DB8:a:b::F643:a2:9354")), ":2001:0db8:000a:000b:0000:f643:00a2:9354");
}

struct KeysCase {
  const char* label;
  const char* address;
  std::optional<uint16_t> port;
  std::vector<std::string> keys;
};

TEST(AddressTest, LookupKeysMostSpecificFirst) {
  const KeysCase cases[] = {
      {"ipv4", "192.168.0.10", std::nullopt, {"192.168.0.10", "192.168.0", "192.168", "192", "*"}},
      {"ipv4 local with port",
       "1.2.3.4",
       25,
       {"1.2.3.4.25", "1.2.3.4", "1.2.3", "1.2", "1", "*.25", "*"}},
      {"ipv6",
       "2002:c0a8::1",
       std::nullopt,
       {":2002:c0a8:0000:0000:0000:0000:0000:0001", ":2002:c0a8:0000:0000:0000:0000:0000",
        ":2002:c0a8:0000:0000:0000:0000", ":2002:c0a8:0000:0000:0000", ":2002:c0a8:0000:0000", ":2002:c0a8:0000",
        ":2002:c0a8", ":2002", "*"}},
      {"mapped ipv4 uses ipv4 keys", "::ffff:10.0.0.1", std::nullopt, {"10.0.0.1", "10.0.0", "10.0", "10", "*"}},
  };
  for (const auto& c : cases)
    EXPECT_EQ(access_lookup_keys(*IpAddress::parse(c.address), c.port), c.keys) << c.label;
}

TEST(AddressTest, DnsNames) {
  EXPECT_EQ(reverse_lookup_name(*IpAddress::parse("192.0.2.5")), "5.2.0.192.in-addr.arpa");
  EXPECT_EQ(blocklist_query_name(*IpAddress::parse("127.0.0.2"), "dnsbl.example"), "2.0.0.127.dnsbl.example");
  EXPECT_EQ(reverse_lookup_name(*IpAddress::parse("2001:db8::567:89ab")),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

TEST(AddressTest, CBlock) {
  auto a = *IpAddress::parse("10.1.2.3");
  EXPECT_TRUE(same_c_block(a, *IpAddress::parse("10.1.2.200")));
  EXPECT_FALSE(same_c_block(a, *IpAddress::parse("10.1.3.3")));
  EXPECT_FALSE(same_c_block(a, *IpAddress::parse("::ffff:10.1.3.3")));
  auto b = *IpAddress::parse("2001:db8:1:2::1");
  EXPECT_TRUE(same_c_block(b, *IpAddress::parse("2001:db8:1:2:ffff::9")));
  EXPECT_FALSE(same_c_block(b, *IpAddress::parse("2001:db8:1:3::1")));
  EXPECT_FALSE(same_c_block(a, b));
}

}  // namespace
}  // namespace tcpd
