// tests/tls/settings_test.cpp: tls/settings.hpp, table-driven.
#include <gtest/gtest.h>

#include <map>

#include "tls/settings.hpp"

namespace {

tls::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ParseProtocol, Table) {
  struct Case {
    const char* label;
    const char* text;
    bool ok;
    int min_version;
    int max_version;
    bool warns;
  } cases[] = {
      {"empty is 1.2 and 1.3", "", true, tls::tls12_version, tls::tls13_version, false},
      {"Courier TLSv1.2", "TLSv1.2", true, tls::tls12_version, tls::tls13_version, false},
      {"Courier TLSv1.2+", "TLSv1.2+", true, tls::tls12_version, tls::tls13_version, false},
      {"Courier TLSv1.2++", "TLSv1.2++", true, tls::tls12_version, tls::tls13_version, false},
      {"lower case", "tlsv1.2", true, tls::tls12_version, tls::tls13_version, false},
      {"TLSv1.3 only", "TLSv1.3", true, tls::tls13_version, tls::tls13_version, false},
      {"TLS1.3 without v", " TLS1.3 ", true, tls::tls13_version, tls::tls13_version, false},
      {"TLSv1 is raised", "TLSv1", true, tls::tls12_version, tls::tls13_version, true},
      {"TLSv1.1+ is raised", "TLSv1.1+", true, tls::tls12_version, tls::tls13_version, true},
      {"SSL3 is raised", "SSL3", true, tls::tls12_version, tls::tls13_version, true},
      {"unknown", "TLSv9", false, 0, 0, false},
      {"garbage", "TLSv1.2;rm", false, 0, 0, false},
  };
  for (const auto& c : cases) {
    std::string warning;
    auto range = tls::parse_protocol(c.text, &warning);
    EXPECT_EQ(range.has_value(), c.ok) << c.label;
    if (!range) continue;
    EXPECT_EQ(range->min_version, c.min_version) << c.label;
    EXPECT_EQ(range->max_version, c.max_version) << c.label;
    EXPECT_EQ(!warning.empty(), c.warns) << c.label;
    if (c.warns) {
      EXPECT_NE(warning.find("older than TLS 1.2"), std::string::npos) << c.label;
    }
  }
}

TEST(ParseVerifyPeer, Table) {
  struct Case {
    const char* label;
    const char* text;
    std::optional<tls::VerifyPeer> expected;
    bool warns;
  } cases[] = {
      {"NONE", "NONE", tls::VerifyPeer::none, false},
      {"peer lower case", "peer", tls::VerifyPeer::peer, false},
      {"REQUIREPEER", "REQUIREPEER", tls::VerifyPeer::require_peer, false},
      {"first letter R as Courier", "REQUIRE", tls::VerifyPeer::require_peer, true},
      {"first letter N", "No", tls::VerifyPeer::none, true},
      {"unknown", "YES", std::nullopt, false},
      {"empty", "", std::nullopt, false},
  };
  for (const auto& c : cases) {
    std::string warning;
    EXPECT_EQ(tls::parse_verify_peer(c.text, &warning), c.expected) << c.label;
    EXPECT_EQ(!warning.empty(), c.warns) << c.label;
  }
}

TEST(ParseAlpn, GoodAndHostile) {
  auto ok = tls::parse_alpn(" imap, h2 @gnutls  pop3 ");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (std::vector<std::string>{"imap", "h2", "pop3"}));
  EXPECT_EQ(tls::alpn_wire_format(*ok), std::string("\x04imap\x02h2\x04pop3"));
  EXPECT_TRUE(tls::parse_alpn("")->empty());
  auto long_name = tls::parse_alpn(std::string(256, 'a'));
  ASSERT_FALSE(long_name);
  EXPECT_NE(long_name.error().message.find("longer than 255"), std::string::npos);
  auto control = tls::parse_alpn(std::string("im\x01" "ap"));
  ASSERT_FALSE(control);
  EXPECT_NE(control.error().message.find("printable"), std::string::npos);
  std::string many;
  for (int i = 0; i < 40; ++i) many += "p" + std::to_string(i) + ",";
  EXPECT_FALSE(tls::parse_alpn(many));
}

TEST(LocalIpSuffix, Table) {
  EXPECT_EQ(tls::local_ip_suffix("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(tls::local_ip_suffix("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(tls::local_ip_suffix("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(tls::local_ip_suffix(""), std::nullopt);
  EXPECT_EQ(tls::local_ip_suffix("../etc/passwd"), std::nullopt);
  EXPECT_EQ(tls::local_ip_suffix("1.2.3.4/24"), std::nullopt);
}

TEST(ServernameSuffix, Table) {
  struct Case {
    const char* label;
    std::string name;
    std::optional<std::string> expected;
  } cases[] = {
      {"plain", "mail.example.com", "mail.example.com"},
      {"upper case folded", "Mail.Example.COM", "mail.example.com"},
      {"trailing dot", "mail.example.com.", "mail.example.com"},
      {"slash becomes dot (Courier)", "a/b", "a.b"},
      {"traversal", "../../etc/passwd", std::nullopt},
      {"slash traversal", "a/../b", std::nullopt},
      {"leading dot", ".hidden", std::nullopt},
      {"empty label", "a..b", std::nullopt},
      {"NUL byte", std::string("a\0b", 3), std::nullopt},
      {"space", "a b", std::nullopt},
      {"empty", "", std::nullopt},
      {"too long", std::string(254, 'a'), std::nullopt},
      {"longest", std::string(253, 'a'), std::string(253, 'a')},
  };
  for (const auto& c : cases) EXPECT_EQ(tls::servername_suffix(c.name), c.expected) << c.label;
}

TEST(ParseSettings, DefaultsAndValues) {
  auto s = tls::parse_settings(env_of({{"TLS_CERTFILE", " /etc/imapd.pem "},
                                       {"TLS_PROTOCOL", "TLSv1.3"},
                                       {"TLS_TRUSTCERTS", "/etc/ca.pem"},
                                       {"TLS_VERIFYPEER", "PEER"},
                                       {"TLS_ALPN", "imap"},
                                       {"TLS_MIN_DH_BITS", "3072"},
                                       {"TLS_HANDSHAKE_TIMEOUT", "2m"},
                                       {"TCPLOCALIP", "::ffff:127.0.0.1"},
                                       {"TCPREMOTEIP", "192.0.2.9"}}));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->certfile, "/etc/imapd.pem");
  EXPECT_EQ(s->protocols.min_version, tls::tls13_version);
  EXPECT_EQ(s->verify_peer, tls::VerifyPeer::peer);
  EXPECT_EQ(s->alpn, std::vector<std::string>{"imap"});
  EXPECT_EQ(s->min_dh_bits, 3072);
  EXPECT_EQ(s->handshake_timeout, std::chrono::seconds(120));
  EXPECT_EQ(s->local_ip, "127.0.0.1");
  EXPECT_EQ(s->remote_ip, "192.0.2.9");
  EXPECT_TRUE(s->warnings.empty());

  auto d = tls::parse_settings(env_of({}));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->verify_peer, tls::VerifyPeer::none);
  EXPECT_EQ(d->protocols.min_version, tls::tls12_version);
  EXPECT_EQ(d->min_dh_bits, tls::min_dh_bits_floor);
}

TEST(ParseSettings, ErrorsAndWarnings) {
  struct Case {
    const char* label;
    std::map<std::string, std::string> env;
    const char* error;    // substring of the error, or nullptr for success
    const char* warning;  // substring of a warning, or nullptr
  } cases[] = {
      {"unknown protocol", {{"TLS_PROTOCOL", "TLSv2"}}, "is not a protocol", nullptr},
      {"unknown verify", {{"TLS_VERIFYPEER", "MAYBE"}}, "is not NONE, PEER or REQUIREPEER", nullptr},
      {"verify without trust", {{"TLS_VERIFYPEER", "REQUIREPEER"}}, "TLS_TRUSTCERTS, which is not set", nullptr},
      {"bad DH bits", {{"TLS_MIN_DH_BITS", "lots"}}, "TLS_MIN_DH_BITS=lots", nullptr},
      {"bad ALPN", {{"TLS_ALPN", std::string(300, 'x')}}, "TLS_ALPN", nullptr},
      {"old protocol warns", {{"TLS_PROTOCOL", "TLS1"}}, nullptr, "older than TLS 1.2"},
      {"GnuTLS priority warns", {{"TLS_PRIORITY", "NORMAL"}}, nullptr, "GnuTLS"},
      {"low DH floor warns", {{"TLS_MIN_DH_BITS", "1024"}}, nullptr, "below 2048"},
      {"bad timeout warns", {{"TLS_HANDSHAKE_TIMEOUT", "soon"}}, nullptr, "TLS_HANDSHAKE_TIMEOUT"},
      {"hostile local ip ignored", {{"TCPLOCALIP", "../../x"}}, nullptr, nullptr},
  };
  for (const auto& c : cases) {
    auto s = tls::parse_settings(env_of(c.env));
    if (c.error) {
      ASSERT_FALSE(s) << c.label;
      EXPECT_NE(s.error().message.find(c.error), std::string::npos) << c.label << ": " << s.error().message;
      continue;
    }
    ASSERT_TRUE(s) << c.label << ": " << s.error().message;
    EXPECT_TRUE(s->local_ip.empty()) << c.label;
    if (!c.warning) {
      EXPECT_TRUE(s->warnings.empty()) << c.label;
      continue;
    }
    bool found = false;
    for (const auto& w : s->warnings) found = found || w.find(c.warning) != std::string::npos;
    EXPECT_TRUE(found) << c.label;
  }
}

}  // namespace
