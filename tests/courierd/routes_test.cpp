#include <gtest/gtest.h>

#include "courierd/routes.hpp"

TEST(Routes, ParsesCourierSyntax) {
  auto r = courierd::parse_routes(
      "# comment\n"
      "example.com: [127.0.0.1],12525\n"
      ".sub.example.net: relay.example.net /SECURITY=STARTTLS /IPV4ONLY\n"
      "dns.example: ,2525\n"
      ": smarthost.example.org,587\n",
      "esmtproutes");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 4u);
  EXPECT_TRUE((*r)[0].literal);
  EXPECT_EQ((*r)[0].relay, "127.0.0.1");
  EXPECT_EQ((*r)[0].port, 12525);
  EXPECT_EQ((*r)[1].security, courierd::RouteSecurity::starttls);
  EXPECT_EQ((*r)[1].family, courierd::RouteFamily::ipv4);
  EXPECT_EQ((*r)[2].relay, "");  // DNS, on another port
  EXPECT_EQ((*r)[2].port, 2525);
  EXPECT_EQ((*r)[3].domain, "");
  EXPECT_EQ((*r)[3].origin, "esmtproutes:5");
}

TEST(Routes, FirstMatchWinsWildcardsAndSmarthost) {
  auto r = courierd::parse_routes("Example.COM: [127.0.0.1]\n.example.net: a.example\n: smart.example\n", "f");
  ASSERT_TRUE(r);
  EXPECT_EQ(courierd::find_route(*r, "EXAMPLE.com")->relay, "127.0.0.1");
  EXPECT_EQ(courierd::find_route(*r, "x.example.net")->relay, "a.example");
  EXPECT_EQ(courierd::find_route(*r, "example.net")->relay, "smart.example");  // "." needs a subdomain
  EXPECT_EQ(courierd::find_route(*r, "other.org")->relay, "smart.example");
  auto none = courierd::parse_routes("a.example: b.example\n", "f");
  EXPECT_FALSE(courierd::find_route(*none, "c.example").has_value());
}

TEST(Routes, BadLinesNameFileAndLine) {
  for (const char* bad : {"example.com [1.2.3.4]\n", "example.com: [300.1.1.1]\n", "example.com: [1.2.3.4,25\n",
                          "example.com: host,99999\n", "example.com: host /FOO\n", "exa mple.com: host\n",
                          "example.com: ho st\n"}) {
    auto r = courierd::parse_routes(std::string("# x\n") + bad, "/etc/esmtproutes");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("/etc/esmtproutes:2"), std::string::npos) << r.error().message;
  }
}

TEST(Routes, AuthClient) {
  auto a = courierd::parse_auth_client("# c\nsmart.example.org user secret\n[127.0.0.1] u p\n", "esmtpauthclient");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[1].relay, "[127.0.0.1]");
  EXPECT_FALSE(courierd::parse_auth_client("host onlyuser\n", "f"));
}

#include "courierd/mx.hpp"

TEST(Mx, OrderedByPreferenceTiesShuffled) {
  std::vector<courierd::MxTarget> t = {{"c", "3", 25, 30}, {"a1", "1", 25, 10}, {"b", "2", 25, 20}, {"a2", "1", 25, 10}};
  bool saw_a2_first = false, saw_a1_first = false;
  for (int i = 0; i < 200; ++i) {
    auto copy = t;
    courierd::order_by_preference(copy);
    ASSERT_EQ(copy[2].host, "b");
    ASSERT_EQ(copy[3].host, "c");
    (copy[0].host == "a1" ? saw_a1_first : saw_a2_first) = true;
  }
  EXPECT_TRUE(saw_a1_first && saw_a2_first);  // equal preferences are not always in one order
}

TEST(Mx, LiteralRoutesNeedNoDns) {
  auto routes = courierd::parse_routes("example.com: [192.0.2.7],2525\n", "f");
  ASSERT_TRUE(routes);
  courierd::DnsOptions dns;
  dns.server = "127.0.0.1:1";  // would fail if asked
  auto t = courierd::find_targets("example.com", courierd::find_route(*routes, "example.com"), dns);
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].ip, "192.0.2.7");
  EXPECT_EQ((*t)[0].port, 2525);
}
