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
