// tests/imapd/imap_url_test.cpp: IMAP URLs (RFC 5092) as CATENATE and
// URLAUTH use them, CATENATE's part list (RFC 4469), and URLAUTH's key file
// and tokens (RFC 4467).
#include "imapd/imap_url.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>

#include "imapd/binary_part.hpp"
#include "imapd/catenate.hpp"
#include "imapd/fetch.hpp"
#include "imapd/objectid.hpp"
#include "imapd/urlauth.hpp"
#include "lib/config.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {
namespace {

ImapUrl parse_ok(std::string_view text) {
  std::string error;
  auto u = parse_imap_url(text, error);
  EXPECT_TRUE(u) << text << ": " << error;
  return u ? *u : ImapUrl{};
}

std::string parse_error(std::string_view text) {
  std::string error;
  auto u = parse_imap_url(text, error);
  EXPECT_FALSE(u) << text;
  return error;
}

TEST(ImapUrl, RelativeWithSection) {
  ImapUrl u = parse_ok("/INBOX.a%20b/;UID=12/;section=HEADER.FIELDS%20(From)");
  EXPECT_FALSE(u.absolute);
  EXPECT_EQ(u.mailbox, "INBOX.a b");
  EXPECT_EQ(u.uid, 12u);
  EXPECT_FALSE(u.uidvalidity);
  EXPECT_EQ(u.section, "HEADER.FIELDS (From)");
  EXPECT_FALSE(u.has_urlauth);
}

TEST(ImapUrl, UidvalidityAndPartial) {
  ImapUrl u = parse_ok("/INBOX;UIDVALIDITY=385759045/;UID=20/;PARTIAL=100000.1");
  ASSERT_TRUE(u.uidvalidity);
  EXPECT_EQ(*u.uidvalidity, 385759045u);
  EXPECT_EQ(u.uid, 20u);
  ASSERT_TRUE(u.partial);
  EXPECT_EQ(u.partial->origin, 100000u);
  ASSERT_TRUE(u.partial->count);
  EXPECT_EQ(*u.partial->count, 1u);
  u = parse_ok("/INBOX/;UID=2/;PARTIAL=5");
  ASSERT_TRUE(u.partial);
  EXPECT_FALSE(u.partial->count);
}

TEST(ImapUrl, AbsoluteWithUrlauth) {
  const std::string rump = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=user+fred@example.com";
  ImapUrl u = parse_ok(rump + ":INTERNAL:91354a473744909de610943775f92038");
  EXPECT_TRUE(u.absolute);
  EXPECT_EQ(u.user, "joe");
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.section, "1.2");
  EXPECT_TRUE(u.has_urlauth);
  EXPECT_EQ(u.access, "user+fred@example.com");
  EXPECT_EQ(access_user(u.access), "fred@example.com");
  EXPECT_EQ(u.mechanism, "INTERNAL");
  EXPECT_EQ(u.token, "91354a473744909de610943775f92038");
  EXPECT_EQ(u.rump, rump);
  // A rump URL (GENURLAUTH's argument): no mechanism, no token.
  u = parse_ok("imap://joe;AUTH=*@example.com:143/INBOX/;uid=20;EXPIRE=2030-01-01T00:00:00Z;urlauth=anonymous");
  EXPECT_EQ(u.user, "joe");
  EXPECT_EQ(u.host, "example.com");
  EXPECT_TRUE(u.mechanism.empty());
  EXPECT_EQ(u.access, "anonymous");
  ASSERT_TRUE(u.expire);
  EXPECT_EQ(*u.expire, 1893456000);
}

TEST(ImapUrl, AccountMatch) {
  ImapUrl u = parse_ok("imap://tester@example.test/INBOX/;uid=1");
  EXPECT_TRUE(url_names_account(u, "tester@example.test"));
  EXPECT_TRUE(url_names_account(u, "tester@EXAMPLE.test"));
  EXPECT_TRUE(url_names_account(u, "tester"));  // a login without a domain
  EXPECT_FALSE(url_names_account(u, "other@example.test"));
  EXPECT_FALSE(url_names_account(u, "tester@other.test"));
  u = parse_ok("imap://tester@host/INBOX/;uid=1");
  EXPECT_TRUE(url_names_account(u, "tester"));
  EXPECT_FALSE(url_names_account(parse_ok("/INBOX/;uid=1"), "tester"));
}

TEST(ImapUrl, Refused) {
  EXPECT_NE(parse_error("INBOX/;UID=1"), "");
  EXPECT_NE(parse_error("/INBOX"), "");                       // no message
  EXPECT_NE(parse_error("/INBOX?SUBJECT%20x"), "");           // search
  EXPECT_NE(parse_error("/INBOX/;UID=0"), "");
  EXPECT_NE(parse_error("/INBOX/;UID=4294967296"), "");
  EXPECT_NE(parse_error("/INBOX;UID=1"), "");                 // "/" missing before ;UID
  EXPECT_NE(parse_error("/INBOX/;UIDVALIDITY=3/;UID=1"), ""); // "/" before ;UIDVALIDITY
  EXPECT_NE(parse_error("/INBOX/;SECTION=1/;UID=1"), "");     // order
  EXPECT_NE(parse_error("/INBOX/;UID=1/;SECTION=1/"), "");    // trailing "/"
  EXPECT_NE(parse_error("/INBOX/;UID=1/;BOGUS=1"), "");
  EXPECT_NE(parse_error("/IN%0ABOX/;UID=1"), "");             // control character
  EXPECT_NE(parse_error("/IN%4/;UID=1"), "");                 // bad escape
  EXPECT_NE(parse_error("/INBOX/;UID=1;URLAUTH=nobody"), "");  // unknown access
  EXPECT_NE(parse_error("/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL:xyz"), "");
  EXPECT_NE(parse_error("/INBOX/;UID=1;EXPIRE=yesterday"), "");
  EXPECT_NE(parse_error("/INB OX/;UID=1"), "");
  EXPECT_NE(parse_error(std::string(9000, 'a')), "");
}

TEST(ImapUrl, Rfc3339) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("1970-01-01T02:00:00.5+02:00"), 0);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00-00:30"), 1800);
  EXPECT_FALSE(parse_rfc3339("1970-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("1970-01-01 00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("1970-01-01T00:00:00"));
}

TEST(Catenate, Parts) {
  const std::string cmd = "a APPEND INBOX CATENATE (TEXT {5}\r\nhello URL \"/INBOX/;UID=1\" text {0+}\r\n)\r\n";
  ParsedCommand c = parse_command(cmd);
  ASSERT_TRUE(c.ok()) << c.error;
  ASSERT_EQ(c.args.size(), 3u);
  std::string error;
  auto parts = parse_catenate(c.args[2], error);
  ASSERT_TRUE(parts) << error;
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_FALSE((*parts)[0].url);
  EXPECT_EQ((*parts)[0].data, "hello");
  EXPECT_TRUE((*parts)[1].url);
  EXPECT_EQ((*parts)[1].data, "/INBOX/;UID=1");
  EXPECT_EQ((*parts)[2].data, "");
}

TEST(Catenate, Refused) {
  for (const char* bad : {"a APPEND INBOX CATENATE ()", "a APPEND INBOX CATENATE (TEXT \"quoted\")",
                          "a APPEND INBOX CATENATE (TEXT)", "a APPEND INBOX CATENATE (URL (x))",
                          "a APPEND INBOX CATENATE (BOGUS x)", "a APPEND INBOX CATENATE x"}) {
    ParsedCommand c = parse_command(bad);
    ASSERT_TRUE(c.ok()) << bad << ": " << c.error;
    std::string error;
    EXPECT_FALSE(parse_catenate(c.args.back(), error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(UrlauthKeys, FileRoundTripAndCorruption) {
  std::map<std::string, std::string> keys{{"INBOX", std::string(32, 'k')}, {"INBOX.a b", std::string(32, '\0')}};
  std::string text = format_urlauth_keys(keys);
  auto back = parse_urlauth_keys(text, "f");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, keys);
  auto bad = parse_urlauth_keys("abc INBOX\n", "/m/imapd-urlauth-keys");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("/m/imapd-urlauth-keys: line 1"), std::string::npos);
  EXPECT_FALSE(parse_urlauth_keys(text.substr(0, text.size() - 1), "f"));  // cut short
}

TEST(UrlauthKeys, CreateKeepResetOnDisk) {
  testutil::TempDir dir;
  const std::string root = dir.path();
  auto none = urlauth_key(root, "INBOX", false);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto k1 = urlauth_key(root, "INBOX", true);
  ASSERT_TRUE(k1 && *k1) << (k1 ? "" : k1.error().message);
  EXPECT_EQ((*k1)->size(), 32u);
  auto k2 = urlauth_key(root, "INBOX", true);
  ASSERT_TRUE(k2 && *k2);
  EXPECT_EQ(**k1, **k2);  // kept, not remade
  auto other = urlauth_key(root, "INBOX.x", true);
  ASSERT_TRUE(other && *other);
  EXPECT_NE(**other, **k1);
  struct stat st {};
  ASSERT_EQ(::stat((root + "/imapd-urlauth-keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(reset_urlauth_keys(root, std::string("INBOX")));
  auto gone = urlauth_key(root, "INBOX", false);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  auto still = urlauth_key(root, "INBOX.x", false);
  ASSERT_TRUE(still && *still);
  ASSERT_TRUE(reset_urlauth_keys(root, std::nullopt));
  auto all_gone = urlauth_key(root, "INBOX.x", false);
  ASSERT_TRUE(all_gone);
  EXPECT_FALSE(*all_gone);
}

TEST(UrlauthToken, HmacSha256) {
  // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
  EXPECT_EQ(urlauth_token("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_TRUE(urlauth_token_matches("Jefe", "what do ya want for nothing?",
                                    "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"));
  EXPECT_FALSE(urlauth_token_matches("Jefe", "what do ya want for nothing!",
                                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
  EXPECT_FALSE(urlauth_token_matches("Jefe", "x", "5bdc"));
}

}  // namespace
}  // namespace imapd

namespace imapd {
namespace {

TEST(BinaryContent, NestedPartsDecodedAndRelabelled) {
  const std::string msg =
      "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\npro\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n"
      "Subject: in\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\nin-pro\r\n--i\r\n"
      "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n  (folded)\r\n\r\naGVs\r\nbG8=\r\n"
      "--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n"
      "--i\r\nContent-Type: text/plain\r\n\r\nplain\r\n--i--\r\nin-epi\r\n--o--\r\nepi\r\n";
  auto parsed = lib::mime::parse(msg);
  const lib::mime::Part* p1 = lib::mime::find_section(parsed.root, "1");
  ASSERT_NE(p1, nullptr);
  auto bin = binary_content(msg, *p1);
  ASSERT_TRUE(bin);
  EXPECT_EQ(*bin,
            "Subject: in\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\nin-pro\r\n--i\r\n"
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nhello"
            "\r\n--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\na=b"
            "\r\n--i\r\nContent-Type: text/plain\r\n\r\nplain\r\n--i--\r\nin-epi");
  const lib::mime::Part* leaf = lib::mime::find_section(parsed.root, "1.1");
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ(binary_content(msg, *leaf), std::optional<std::string>("hello"));
  const std::string unknown = "Content-Transfer-Encoding: x-weird\r\n\r\nzz\r\n";
  auto u = lib::mime::parse(unknown);
  EXPECT_FALSE(binary_content(unknown, u.root));
}

// URLFETCH (url BINARY BODYPARTSTRUCTURE), RFC 5524: the structure of what
// BINARY returns: decoded sizes and line feeds, the stored encoding names.
TEST(BinaryContent, StructureOfTheDecodedData) {
  const std::string leaf_header =
      "Content-Type: text/x-myown; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  const std::string msg =
      "From: a@x\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n"
      "Subject: in\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n" +
      leaf_header + "aGVsbG8g\r\nd29ybGQ=\r\n--i\r\n" + leaf_header + "aGVsbG8gd29ybGQK\r\n--i--\r\n--o--\r\n";
  auto parsed = lib::mime::parse(msg);
  const lib::mime::Part* p1 = lib::mime::find_section(parsed.root, "1");
  ASSERT_NE(p1, nullptr);
  auto bin = binary_content(msg, *p1);
  ASSERT_TRUE(bin);
  auto decoded = binary_structure(msg, *p1);
  ASSERT_TRUE(decoded);
  std::string out;
  append_body_structure(out, *decoded, msg, false);
  const std::string leaf = "\"text\" \"x-myown\" (\"charset\" \"us-ascii\") NIL NIL \"base64\" ";
  const auto lfs = std::count(bin->begin(), bin->end(), '\n');
  EXPECT_EQ(out, "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" " + std::to_string(bin->size()) +
                     " (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) ((" + leaf + "11 0)(" + leaf +
                     "12 1) \"alternative\") " + std::to_string(lfs) + ")");
  // BODYPARTSTRUCTURE alone still describes the stored part.
  out.clear();
  append_body_structure(out, *p1, msg, false);
  EXPECT_NE(out.find(leaf + "18 2)"), std::string::npos) << out;
  // A leaf section: its own decoded bytes.
  const lib::mime::Part* leaf1 = lib::mime::find_section(parsed.root, "1.1");
  ASSERT_NE(leaf1, nullptr);
  auto d1 = binary_structure(msg, *leaf1);
  ASSERT_TRUE(d1);
  out.clear();
  append_body_structure(out, *d1, msg, false);
  EXPECT_EQ(out, "(" + leaf + "11 0)");
  const std::string unknown = "Content-Transfer-Encoding: x-weird\r\n\r\nzz\r\n";
  auto u = lib::mime::parse(unknown);
  EXPECT_FALSE(binary_structure(unknown, u.root));
}

}  // namespace
}  // namespace imapd

namespace imapd {
namespace {

TEST(ObjectId, EmailIdAndMailboxId) {
  const std::string a = email_id("1700000000.M1P2.host,S=10,W=12");
  EXPECT_EQ(a, email_id("1700000000.M1P2.host,S=10,W=12"));
  EXPECT_NE(a, email_id("1700000000.M1P3.host,S=10,W=12"));
  EXPECT_EQ(a.size(), 17u);
  EXPECT_TRUE(valid_object_id(a));
  EXPECT_FALSE(valid_object_id(""));
  EXPECT_FALSE(valid_object_id("a.b"));
  EXPECT_FALSE(valid_object_id(std::string(256, 'a')));
  EXPECT_EQ(save_date("1700000000.M1P2.host:2,S"), 1700000000);
  EXPECT_EQ(save_date("123456789.x"), 123456789);
  EXPECT_FALSE(save_date("12345678.x"));      // too short to be a time
  EXPECT_FALSE(save_date("170000000000.x"));  // too long
  EXPECT_FALSE(save_date("1700000000"));      // no "." after it
  EXPECT_FALSE(save_date("courier-import"));
  testutil::TempDir dir;
  auto m1 = mailbox_id(dir.path());
  ASSERT_TRUE(m1) << m1.error().message;
  EXPECT_TRUE(valid_object_id(*m1));
  auto m2 = mailbox_id(dir.path());
  ASSERT_TRUE(m2);
  EXPECT_EQ(*m1, *m2);
  testutil::write_file(dir / "imapd-mailboxid", "bad id!\n");
  auto bad = mailbox_id(dir.path());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("imapd-mailboxid does not hold a MAILBOXID"), std::string::npos);
}

}  // namespace
}  // namespace imapd
