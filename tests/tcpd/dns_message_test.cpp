// tests/tcpd/dns_message_test.cpp: DNS query encoding and reply decoding,
// including malformed and hostile replies.
#include "tcpd/dns_message.hpp"

#include <gtest/gtest.h>

namespace tcpd {
namespace {

// Builds replies by hand.
struct Builder {
  std::string b;
  void u16(uint16_t v) {
    b += static_cast<char>(v >> 8);
    b += static_cast<char>(v & 0xff);
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void name(std::string_view n) {
    size_t s = 0;
    while (s < n.size()) {
      size_t d = n.find('.', s);
      if (d == std::string_view::npos) d = n.size();
      b += static_cast<char>(d - s);
      b.append(n.substr(s, d - s));
      s = d + 1;
    }
    b += '\0';
  }
  void header(uint16_t id, uint16_t flags, uint16_t an) {
    u16(id);
    u16(flags);
    u16(1);
    u16(an);
    u16(0);
    u16(0);
  }
  void question(std::string_view n, uint16_t type) {
    name(n);
    u16(type);
    u16(1);
  }
  void rr_ptr_name(uint16_t type, std::string rdata) {  // owner = compression pointer to the question (offset 12)
    u16(0xc00c);
    u16(type);
    u16(1);
    u32(300);
    u16(static_cast<uint16_t>(rdata.size()));
    b += rdata;
  }
  std::span<const uint8_t> span() const {
    return {reinterpret_cast<const uint8_t*>(b.data()), b.size()};
  }
};

std::string txt_rdata(std::vector<std::string> parts) {
  std::string r;
  for (auto& p : parts) {
    r += static_cast<char>(p.size());
    r += p;
  }
  return r;
}

const char* qname = "2.0.0.127.bl.example";

TEST(DnsMessageTest, EncodeQuery) {
  auto q = encode_dns_query(0x1234, "a.bc", dns_type_txt);
  ASSERT_TRUE(q);
  EXPECT_EQ(*q, std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01"
                            "a\x02"
                            "bc\x00\x00\x10\x00\x01",
                            22));
  EXPECT_TRUE(encode_dns_query(1, "a.bc.", dns_type_a));  // trailing dot allowed
  EXPECT_FALSE(encode_dns_query(1, "", dns_type_a));
  EXPECT_FALSE(encode_dns_query(1, "a..b", dns_type_a));
  EXPECT_FALSE(encode_dns_query(1, std::string(64, 'x') + ".com", dns_type_a));
  EXPECT_FALSE(encode_dns_query(1, std::string(300, 'x'), dns_type_a));
}

TEST(DnsMessageTest, ARecord) {
  Builder b;
  b.header(7, 0x8180, 2);
  b.question(qname, dns_type_a);
  b.rr_ptr_name(dns_type_a, std::string("\x7f\x00\x00\x02", 4));
  b.rr_ptr_name(dns_type_a, std::string("\x7f\x00\x00\x0a", 4));
  auto a = decode_dns_reply(b.span(), 7, "2.0.0.127.BL.example.", dns_type_a);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, DnsAnswer::Status::ok);
  ASSERT_EQ(a->a.size(), 2u);
  EXPECT_EQ(a->a[1], (std::array<uint8_t, 4>{127, 0, 0, 10}));
}

TEST(DnsMessageTest, TxtRecordJoinsStrings) {
  Builder b;
  b.header(9, 0x8180, 1);
  b.question(qname, dns_type_txt);
  b.rr_ptr_name(dns_type_txt, txt_rdata({"Listed: ", "see http://x/"}));
  auto a = decode_dns_reply(b.span(), 9, qname, dns_type_txt);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, DnsAnswer::Status::ok);
  ASSERT_EQ(a->txt.size(), 1u);
  EXPECT_EQ(a->txt[0], "Listed: see http://x/");
}

TEST(DnsMessageTest, CnameIsFollowed) {
  Builder b;
  b.header(3, 0x8180, 2);
  b.question(qname, dns_type_a);
  // CNAME qname -> other.example, then an A record for other.example.
  Builder target;
  target.name("other.example");
  b.rr_ptr_name(dns_type_cname, target.b);
  b.name("other.example");
  b.u16(dns_type_a);
  b.u16(1);
  b.u32(60);
  b.u16(4);
  b.b += std::string("\x7f\x00\x00\x03", 4);
  auto a = decode_dns_reply(b.span(), 3, qname, dns_type_a);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->a.size(), 1u);
  EXPECT_EQ(a->a[0][3], 3);
}

TEST(DnsMessageTest, RecordsForOtherNamesAreIgnored) {
  Builder b;
  b.header(3, 0x8180, 1);
  b.question(qname, dns_type_a);
  b.name("evil.example");
  b.u16(dns_type_a);
  b.u16(1);
  b.u32(60);
  b.u16(4);
  b.b += std::string("\x7f\x00\x00\x02", 4);
  auto a = decode_dns_reply(b.span(), 3, qname, dns_type_a);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, DnsAnswer::Status::not_found);
}

TEST(DnsMessageTest, StatusFromRcode) {
  struct Case {
    const char* label;
    uint16_t flags;
    DnsAnswer::Status status;
  } cases[] = {
      {"nxdomain", 0x8183, DnsAnswer::Status::not_found},
      {"nodata", 0x8180, DnsAnswer::Status::not_found},
      {"servfail", 0x8182, DnsAnswer::Status::failed},
      {"refused", 0x8185, DnsAnswer::Status::failed},
      {"truncated", 0x8380, DnsAnswer::Status::failed},
  };
  for (const auto& c : cases) {
    Builder b;
    b.header(5, c.flags, 0);
    b.question(qname, dns_type_a);
    auto a = decode_dns_reply(b.span(), 5, qname, dns_type_a);
    ASSERT_TRUE(a) << c.label;
    EXPECT_EQ(a->status, c.status) << c.label;
  }
}

TEST(DnsMessageTest, NotOurReply) {
  Builder good;
  good.header(5, 0x8180, 0);
  good.question(qname, dns_type_a);
  EXPECT_FALSE(decode_dns_reply(good.span(), 6, qname, dns_type_a)) << "wrong id";
  EXPECT_FALSE(decode_dns_reply(good.span(), 5, "3.0.0.127.bl.example", dns_type_a)) << "wrong name";
  EXPECT_FALSE(decode_dns_reply(good.span(), 5, qname, dns_type_txt)) << "wrong type";
  Builder query;
  query.header(5, 0x0100, 0);
  query.question(qname, dns_type_a);
  EXPECT_FALSE(decode_dns_reply(query.span(), 5, qname, dns_type_a)) << "a query, not a reply";
}

TEST(DnsMessageTest, HostileReplies) {
  // Every truncation of a valid reply is either "not ours" or failed, never a crash.
  Builder b;
  b.header(7, 0x8180, 1);
  b.question(qname, dns_type_txt);
  b.rr_ptr_name(dns_type_txt, txt_rdata({"hello"}));
  for (size_t n = 0; n < b.b.size(); ++n) {
    auto a = decode_dns_reply(b.span().first(n), 7, qname, dns_type_txt);
    if (a) {
      EXPECT_NE(a->status, DnsAnswer::Status::ok) << "length " << n;
    }
  }
  // A compression loop in the answer's owner name.
  Builder loop;
  loop.header(7, 0x8180, 1);
  loop.question(qname, dns_type_a);
  size_t at = loop.b.size();
  loop.u16(static_cast<uint16_t>(0xc000 | at));  // points at itself
  loop.u16(dns_type_a);
  loop.u16(1);
  loop.u32(1);
  loop.u16(4);
  loop.b += std::string(4, '\x7f');
  auto a = decode_dns_reply(loop.span(), 7, qname, dns_type_a);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, DnsAnswer::Status::failed);
  // A TXT string longer than its record.
  Builder bad_txt;
  bad_txt.header(7, 0x8180, 1);
  bad_txt.question(qname, dns_type_txt);
  bad_txt.rr_ptr_name(dns_type_txt, std::string("\x20short", 6));
  a = decode_dns_reply(bad_txt.span(), 7, qname, dns_type_txt);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, DnsAnswer::Status::failed);
  // An A record with the wrong length.
  Builder bad_a;
  bad_a.header(7, 0x8180, 1);
  bad_a.question(qname, dns_type_a);
  bad_a.rr_ptr_name(dns_type_a, std::string("\x7f\x00\x00", 3));
  a = decode_dns_reply(bad_a.span(), 7, qname, dns_type_a);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, DnsAnswer::Status::failed);
  // Claims 65535 answers with none present.
  Builder lying;
  lying.header(7, 0x8180, 65535);
  lying.question(qname, dns_type_a);
  a = decode_dns_reply(lying.span(), 7, qname, dns_type_a);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, DnsAnswer::Status::failed);
  // Empty packet.
  EXPECT_FALSE(decode_dns_reply({}, 7, qname, dns_type_a));
}

TEST(DnsMessageTest, NamesEqual) {
  EXPECT_TRUE(dns_names_equal("A.Example.", "a.example"));
  EXPECT_FALSE(dns_names_equal("a.example", "a.example.com"));
}

}  // namespace
}  // namespace tcpd
