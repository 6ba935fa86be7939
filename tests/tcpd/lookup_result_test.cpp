// tests/tcpd/lookup_result_test.cpp: the lookup helper's result format, as
// the root daemon parses it (tcpd/lookup_result.hpp): what the helper writes
// reads back the same, and anything off the format is refused with a reason.
#include "tcpd/lookup_result.hpp"

#include <gtest/gtest.h>

namespace tcpd {
namespace {

TEST(LookupResultTest, RoundTrip) {
  LookupResult r;
  r.proxy = LookupResult::Proxy::addresses;
  r.source = *IpAddress::parse("192.0.2.1");
  r.destination = *IpAddress::parse("2001:db8::2");
  r.source_port = 56324;
  r.destination_port = 25;
  r.ident = "jdoe\x01x";  // control characters become spaces
  r.remote_host = "client.example.com";
  r.local_host_cacheable = true;  // looked up, no name
  r.answers.resize(3);
  DnsAnswer ok;
  ok.status = DnsAnswer::Status::ok;
  ok.a = {{127, 0, 0, 2}, {127, 0, 0, 4}};
  ok.txt = {"listed\tsee https://bl.example/", "second"};
  r.answers[0] = ok;
  DnsAnswer nf;
  nf.status = DnsAnswer::Status::not_found;
  r.answers[2] = nf;

  std::string wire = encode_lookup_result(r);
  EXPECT_EQ(wire,
            "P 192.0.2.1 56324 2001:db8::2 25\nI jdoe x\nR client.example.com\nL - 1\nB 0 ok\nA 0 127.0.0.2\n"
            "A 0 127.0.0.4\nT 0 listed see https://bl.example/\nB 2 notfound\nE\n");
  std::string why;
  auto back = parse_lookup_result(wire, 3, &why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(back->proxy, LookupResult::Proxy::addresses);
  EXPECT_EQ(back->source.to_string(), "192.0.2.1");
  EXPECT_EQ(back->destination.to_string(), "2001:db8::2");
  EXPECT_EQ(back->source_port, 56324);
  EXPECT_EQ(back->destination_port, 25);
  EXPECT_EQ(back->ident, "jdoe x");
  EXPECT_EQ(back->remote_host, "client.example.com");
  EXPECT_FALSE(back->local_host);
  EXPECT_TRUE(back->local_host_cacheable);
  ASSERT_EQ(back->answers.size(), 3u);
  ASSERT_TRUE(back->answers[0]);
  EXPECT_EQ(back->answers[0]->a.size(), 2u);
  EXPECT_EQ(back->answers[0]->txt, std::vector<std::string>{"listed see https://bl.example/"});
  EXPECT_FALSE(back->answers[1]);
  ASSERT_TRUE(back->answers[2]);
  EXPECT_EQ(back->answers[2]->status, DnsAnswer::Status::not_found);
}

TEST(LookupResultTest, DropAndUnknown) {
  LookupResult d;
  d.proxy = LookupResult::Proxy::dropped;
  d.drop = DropReason::timeout;
  auto back = parse_lookup_result(encode_lookup_result(d), 0, nullptr);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->proxy, LookupResult::Proxy::dropped);
  EXPECT_EQ(back->drop, DropReason::timeout);
  EXPECT_EQ(drop_reason_text(back->drop), "no PROXY header in time");
  auto u = parse_lookup_result("P UNKNOWN\nL softdnserr 0\nE\n", 0, nullptr);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->proxy, LookupResult::Proxy::unknown);
  EXPECT_EQ(u->local_host, "softdnserr");
  EXPECT_FALSE(u->local_host_cacheable);
  auto empty = parse_lookup_result("E\n", 2, nullptr);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->proxy, LookupResult::Proxy::none);
  EXPECT_EQ(empty->answers.size(), 2u);
}

TEST(LookupResultTest, RefusesAnythingElse) {
  struct Case {
    const char* label;
    std::string text;
    const char* why;  // a part of the reason
  } cases[] = {
      {"empty", "", "no end line"},
      {"no end", "R a.example\n", "no end line"},
      {"no newline at end", "E", "no newline"},
      {"data after end", "E\nR a.example\n", "after the end"},
      {"unknown tag", "X y\nE\n", "unknown tag"},
      {"no space", "Rhost\nE\n", "TAG value"},
      {"crlf", "R a.example\r\nE\n", "bad host name"},
      {"host with slash", "R a/b\nE\n", "bad host name"},
      {"host with space", "R a b\nE\n", "bad host name"},
      {"host too long", "R " + std::string(254, 'a') + "\nE\n", "bad host name"},
      {"two R", "R a.example\nR b.example\nE\n", "second R"},
      {"two I", "I a\nI b\nE\n", "second I"},
      {"ident control", std::string("I a\x1b[0m\nE\n"), "bad user id"},
      {"ident too long", "I " + std::string(513, 'u') + "\nE\n", "bad user id"},
      {"L bad flag", "L a.example 2\nE\n", "bad L"},
      {"L missing flag", "L a.example\nE\n", "bad L"},
      {"two P", "P UNKNOWN\nP UNKNOWN\nE\n", "second P"},
      {"P and D", "P UNKNOWN\nD timeout\nE\n", "second P"},
      {"P bad ip", "P 192.0.2.300 1 192.0.2.2 2\nE\n", "bad P"},
      {"P port too big", "P 192.0.2.1 65536 192.0.2.2 2\nE\n", "bad P"},
      {"P leading zero", "P 192.0.2.1 01 192.0.2.2 2\nE\n", "bad P"},
      {"P extra field", "P 192.0.2.1 1 192.0.2.2 2 3\nE\n", "4 fields"},
      {"P double space", "P 192.0.2.1  1 192.0.2.2 2\nE\n", "4 fields"},
      {"D unknown", "D because\nE\n", "unknown drop reason"},
      {"B out of range", "B 1 ok\nE\n", "no such blocklist"},
      {"B negative", "B -1 ok\nE\n", "no such blocklist"},
      {"B huge", "B 99999999999 ok\nE\n", "no such blocklist"},
      {"B bad status", "B 0 maybe\nE\n", "unknown answer status"},
      {"B twice", "B 0 ok\nB 0 ok\nE\n", "second B"},
      {"A before B", "A 0 127.0.0.2\nE\n", "without an ok B"},
      {"A after failed", "B 0 failed\nA 0 127.0.0.2\nE\n", "without an ok B"},
      {"A v6", "B 0 ok\nA 0 ::1\nE\n", "bad A"},
      {"A mapped v6", "B 0 ok\nA 0 ::ffff:127.0.0.2\nE\n", "bad A"},
      {"T twice", "B 0 ok\nT 0 a\nT 0 b\nE\n", "second T"},
      {"T control", std::string("B 0 ok\nT 0 a\x7f\nE\n"), "bad TXT"},
      {"T too long", "B 0 ok\nT 0 " + std::string(1025, 't') + "\nE\n", "bad TXT"},
      {"too big", std::string(lookup_result_max_bytes + 1, 'x'), "longer than"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(parse_lookup_result(c.text, 1, &why)) << c.label;
    EXPECT_NE(why.find(c.why), std::string::npos) << c.label << ": " << why;
  }
  std::string many = "B 0 ok\n";
  for (size_t i = 0; i <= lookup_result_max_a; ++i) many += "A 0 127.0.0." + std::to_string(i % 250) + "\n";
  std::string why;
  EXPECT_FALSE(parse_lookup_result(many + "E\n", 1, &why));
  EXPECT_NE(why.find("too many A"), std::string::npos) << why;
}

}  // namespace
}  // namespace tcpd
