// tests/imapd/search_test.cpp: SEARCH (imapd/search.hpp): every RFC 3501 key,
// CHARSET and RETURN handling, nesting and count limits, lazy content access
// (keys needing no content never load the message), decoded and
// case-insensitive text matching in headers and bodies.
#include "imapd/search.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "imapd/fetch.hpp"
#include "imapd/lexer.hpp"

namespace imapd {
namespace {

const std::string kMessage = R"EML(From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.org>
To: Anna <anna@example.com>, bob@example.net
Cc: "Carol" <carol@example.com>
Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus Berlin
Date: Thu, 16 Mar 2023 23:30:00 -0800
Message-ID: <m1@example.org>
X-Spam-Flag: NO
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Sch=F6ne STRA=DFE, lieber Freund.
--b
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

c2VjcmV0IHBheWxvYWQ=
--b
Content-Type: message/rfc822

Subject: Forwarded ΚΑΛΗΜΕΡΑ
From: x@y.example

Inner body with Привет.
--b--
)EML";

class FakeMessage : public SearchMessage {
 public:
  FakeMessage(std::uint32_t seq, std::uint32_t uid, std::string raw) : seq_(seq), uid_(uid), raw_(std::move(raw)) {}
  std::uint32_t seq() const override { return seq_; }
  std::uint32_t uid() const override { return uid_; }
  bool has_flag(SystemFlag f) const override { return flags_.count(f) != 0; }
  bool has_keyword(std::string_view k) const override {
    for (const auto& kw : keywords_) {
      if (kw.size() == k.size() && std::equal(kw.begin(), kw.end(), k.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          })) {
        return true;
      }
    }
    return false;
  }
  std::time_t internal_date() const override { return date_; }
  std::uint64_t size() override {
    ++size_calls_;
    return crlf_size(raw_);
  }
  MessageText* message() override {
    ++message_calls_;
    if (vanished_) return nullptr;
    if (!text_) text_ = std::make_unique<MessageText>(raw_);
    return text_.get();
  }

  std::set<SystemFlag> flags_;
  std::vector<std::string> keywords_;
  std::time_t date_ = 1678960800;  // 2023-03-16 10:00:00 UTC
  bool vanished_ = false;
  int message_calls_ = 0;
  int size_calls_ = 0;

 private:
  std::uint32_t seq_, uid_;
  std::string raw_;
  std::unique_ptr<MessageText> text_;
};

SearchParseResult parse(const std::string& criteria, bool esearch = false, bool saved = false,
                        const SearchLimits& limits = {}) {
  // parse_search copies every string it keeps: the command text may go.
  const std::string text = "a SEARCH " + criteria;
  const auto cmd = parse_command(text);
  if (!cmd.ok()) {
    SearchParseResult r;
    r.error = "lexer: " + cmd.error;
    return r;
  }
  return parse_search(cmd.args, esearch, saved, limits);
}

// Whether `criteria` matches the message (seq 3 of 10, UID 30 of max 100).
bool matches(const std::string& criteria, FakeMessage& m) {
  const auto r = parse(criteria);
  EXPECT_TRUE(r.program) << criteria << ": " << r.error;
  if (!r.program) return false;
  SearchContext ctx;
  ctx.message_count = 10;
  ctx.max_uid = 100;
  ctx.zone_offset_minutes = 0;
  return search_matches(*r.program, m, ctx);
}

struct MatchCase {
  const char* criteria;
  bool want;
};

TEST(Search, FlagsSequencesDatesAndSizes) {
  FakeMessage m(3, 30, kMessage);
  m.flags_ = {SystemFlag::seen, SystemFlag::flagged, SystemFlag::recent};
  m.keywords_ = {"$Forwarded", "Work"};
  const MatchCase cases[] = {
      {"ALL", true},
      {"SEEN", true},
      {"UNSEEN", false},
      {"FLAGGED", true},
      {"UNFLAGGED", false},
      {"ANSWERED", false},
      {"UNANSWERED", true},
      {"DELETED", false},
      {"UNDELETED", true},
      {"DRAFT", false},
      {"UNDRAFT", true},
      {"RECENT", true},
      {"OLD", false},
      {"NEW", false},  // recent but seen
      {"KEYWORD work", true},
      {"KEYWORD $Junk", false},
      {"UNKEYWORD $Junk", true},
      {"UNKEYWORD $forwarded", false},
      {"3", true},
      {"1:2,4:*", false},
      {"*", false},
      {"2:4", true},
      {"UID 30", true},
      {"UID 1:29,31:*", false},
      {"UID 25:35", true},
      {"BEFORE 16-Mar-2023", false},
      {"BEFORE 17-Mar-2023", true},
      {"ON 16-Mar-2023", true},
      {"on \"16-mar-2023\"", true},
      {"SINCE 16-Mar-2023", true},
      {"SINCE 17-Mar-2023", false},
      {"LARGER 100", true},
      {"LARGER 100000", false},
      {"SMALLER 100000", true},
      {"NOT SEEN", false},
      {"NOT NOT SEEN", true},
      {"OR ANSWERED FLAGGED", true},
      {"OR ANSWERED DELETED", false},
      {"(SEEN FLAGGED)", true},
      {"(SEEN ANSWERED)", false},
      {"SEEN FLAGGED 3 UID 30", true},
      {"OR (ANSWERED) (NOT (SEEN OR DRAFT RECENT))", false},
      {"OR (ANSWERED) (NOT (DELETED OR DRAFT ANSWERED))", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(matches(c.criteria, m), c.want) << c.criteria;
  }
  // None of these needed the file; the size was asked for LARGER/SMALLER only.
  EXPECT_EQ(m.message_calls_, 0);
  EXPECT_GT(m.size_calls_, 0);
}

TEST(Search, SentDatesUseTheDateHeaderAsWritten) {
  FakeMessage m(1, 1, kMessage);  // Date: Thu, 16 Mar 2023 23:30:00 -0800 (17 Mar in UTC)
  const MatchCase cases[] = {
      {"SENTON 16-Mar-2023", true},
      {"SENTON 17-Mar-2023", false},
      {"SENTBEFORE 17-Mar-2023", true},
      {"SENTBEFORE 16-Mar-2023", false},
      {"SENTSINCE 16-Mar-2023", true},
      {"SENTSINCE 17-Mar-2023", false},
  };
  for (const auto& c : cases) EXPECT_EQ(matches(c.criteria, m), c.want) << c.criteria;
  FakeMessage undated(1, 1, "Subject: x\n\nbody\n");
  EXPECT_FALSE(matches("SENTSINCE 1-Jan-1970", undated));
  EXPECT_FALSE(matches("SENTBEFORE 1-Jan-2100", undated));
}

TEST(Search, TextIsDecodedAndCaseInsensitive) {
  FakeMessage m(1, 1, kMessage);
  const MatchCase cases[] = {
      {"FROM \"j\xc3\xb6rg\"", true},                 // encoded word decoded
      {"FROM \"J\xc3\x96RG M\xc3\x9cLLER\"", true},  // Latin-1 capitals folded
      {"FROM joerg@example.org", true},
      {"FROM anna", false},
      {"TO ANNA", true},
      {"TO bob@example.net", true},
      {"CC carol", true},
      {"BCC carol", false},
      {"SUBJECT \"gr\xc3\xbc\xc3\x9f" "e\"", true},
      {"SUBJECT \"aus berlin\"", true},
      {"SUBJECT Hamburg", false},
      {"HEADER X-Spam-Flag no", true},
      {"HEADER x-spam-flag \"\"", true},  // empty string: the field exists
      {"HEADER X-Other \"\"", false},
      {"HEADER Message-ID <m1@", true},
      {"BODY \"stra\xc3\x9f" "e\"", true},     // QP Latin-1 decoded, case folded
      {"BODY \"SCH\xc3\x96NE\"", true},
      {"BODY \"lieber freund\"", true},
      {"BODY secret", false},                    // base64 attachment is not text
      {"BODY \"forwarded \xce\xba\xce\xb1\xce\xbb\"", true},  // forwarded header, Greek folded
      {"BODY \"\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2\"", true},  // Cyrillic capitals
      {"BODY Berlin", false},                    // only in the top header
      {"TEXT Berlin", true},
      {"TEXT freund", true},
      {"TEXT nowhere", false},
      {"CHARSET UTF-8 BODY {6}\r\nfreund", true},
      {"CHARSET us-ascii SUBJECT aus", true},
      {"OR BODY nowhere SUBJECT berlin", true},
      {"NOT BODY nowhere", true},
  };
  for (const auto& c : cases) EXPECT_EQ(matches(c.criteria, m), c.want) << c.criteria;
  EXPECT_GT(m.message_calls_, 0);
}

TEST(Search, CheapKeysShortCircuitTheFile) {
  FakeMessage m(1, 1, kMessage);
  // SEEN is false, so the AND never reaches BODY even though it comes first.
  EXPECT_FALSE(matches("BODY freund SEEN", m));
  EXPECT_EQ(m.message_calls_, 0);
  EXPECT_TRUE(matches("OR BODY freund UNSEEN", m));
  EXPECT_EQ(m.message_calls_, 0);
  EXPECT_TRUE(matches("BODY freund", m));
  EXPECT_GT(m.message_calls_, 0);
}

TEST(Search, VanishedMessageMatchesNoTextKey) {
  FakeMessage m(1, 1, kMessage);
  m.vanished_ = true;
  EXPECT_FALSE(matches("BODY freund", m));
  EXPECT_FALSE(matches("SUBJECT aus", m));
  EXPECT_FALSE(matches("SENTON 16-Mar-2023", m));
  EXPECT_TRUE(matches("NOT BODY freund", m));
  EXPECT_TRUE(matches("ALL", m));
}

TEST(Search, ProgramFlags) {
  auto r = parse("SEEN UID 1:*");
  ASSERT_TRUE(r.program);
  EXPECT_FALSE(r.program->needs_content);
  EXPECT_FALSE(r.program->needs_size);
  EXPECT_FALSE(r.program->returns);
  r = parse("LARGER 5");
  EXPECT_TRUE(r.program->needs_size);
  EXPECT_FALSE(r.program->needs_content);
  for (const char* c : {"BODY x", "TEXT x", "SUBJECT x", "HEADER a b", "SENTON 1-Jan-2000", "NOT FROM x",
                        "OR SEEN CC x"}) {
    r = parse(c);
    ASSERT_TRUE(r.program) << c;
    EXPECT_TRUE(r.program->needs_content) << c;
  }
}

TEST(Search, ReturnOptionsAndSavedResult) {
  auto r = parse("RETURN (MIN MAX COUNT) SEEN", true);
  ASSERT_TRUE(r.program) << r.error;
  ASSERT_TRUE(r.program->returns);
  EXPECT_TRUE(r.program->returns->min);
  EXPECT_TRUE(r.program->returns->max);
  EXPECT_TRUE(r.program->returns->count);
  EXPECT_FALSE(r.program->returns->all);
  r = parse("RETURN () ALL", true);
  ASSERT_TRUE(r.program) << r.error;
  EXPECT_TRUE(r.program->returns->all);
  r = parse("RETURN (SAVE) CHARSET UTF-8 ALL", true, true);
  ASSERT_TRUE(r.program) << r.error;
  EXPECT_TRUE(r.program->returns->save);
  EXPECT_FALSE(parse("RETURN (SAVE) ALL", true, false).program);
  EXPECT_FALSE(parse("RETURN (FOO) ALL", true).program);
  EXPECT_FALSE(parse("RETURN ALL", true).program);
  EXPECT_FALSE(parse("RETURN (MIN) SEEN", false).program);  // RETURN is a key only with ESEARCH

  r = parse("UID $", false, true);
  ASSERT_TRUE(r.program) << r.error;
  EXPECT_TRUE(r.program->uses_saved);
  FakeMessage m(2, 7, kMessage);
  const std::vector<std::uint32_t> saved = {3, 7, 9};
  SearchContext ctx;
  ctx.message_count = 5;
  ctx.max_uid = 9;
  ctx.saved_uids = &saved;
  EXPECT_TRUE(search_matches(*r.program, m, ctx));
  r = parse("$", false, true);
  ASSERT_TRUE(r.program);
  EXPECT_TRUE(search_matches(*r.program, m, ctx));
  ctx.saved_uids = nullptr;
  EXPECT_FALSE(search_matches(*r.program, m, ctx));
  EXPECT_FALSE(parse("$").program);  // without SEARCHRES
}

TEST(Search, BadCharset) {
  for (const char* c : {"CHARSET ISO-8859-1 ALL", "CHARSET \"KOI8-R\" SUBJECT x", "charset x ALL"}) {
    const auto r = parse(c);
    EXPECT_FALSE(r.program) << c;
    EXPECT_TRUE(r.bad_charset) << c;
  }
  EXPECT_FALSE(parse("CHARSET").bad_charset);  // syntax error, not a charset problem
}

TEST(Search, RejectsMalformedCriteria) {
  const char* bad[] = {
      "",                      // nothing
      "CHARSET UTF-8",         // no keys
      "FOO",                   // unknown key
      "SEEN FOO",              // unknown after a good one
      "NOT",                   // missing operand
      "OR SEEN",               // missing second operand
      "()",                    // empty group
      "FROM",                  // missing string
      "FROM (a)",              // list instead of string
      "HEADER Subject",        // missing value
      "HEADER \"\" x",         // empty field name
      "KEYWORD",               // missing keyword
      "KEYWORD \"a\"",         // keyword must be an atom
      "LARGER",                // missing number
      "LARGER abc",            // not a number
      "LARGER -1",             // not a number
      "SMALLER \"5\"",         // quoted number
      "UID",                   // missing set
      "UID abc",               // bad set
      "UID 0",                 // zero
      "1:",                    // bad set
      "0",                     // zero
      "BEFORE",                // missing date
      "BEFORE 1994-02-01",     // wrong format
      "SINCE 32-Jan-2000",     // impossible
      "ON 29-Feb-2023",        // not a leap year
      "ON 1-Foo-2000",         // bad month
      "SENTON 1-Jan-99",       // two-digit year
      "BODY[1]",               // a fetch section is no key
  };
  for (const char* c : bad) {
    const auto r = parse(c);
    EXPECT_FALSE(r.program) << c;
    EXPECT_FALSE(r.error.empty()) << c;
    EXPECT_FALSE(r.bad_charset) << c;
  }
}

TEST(Search, LimitsOnNestingAndCount) {
  std::string nots;
  for (int i = 0; i < 10000; ++i) nots += "NOT ";
  nots += "SEEN";
  auto r = parse(nots);
  EXPECT_FALSE(r.program);
  EXPECT_EQ(r.error, "Search criteria nested too deep");

  std::string ors;
  for (int i = 0; i < 100; ++i) ors += "OR SEEN ";
  ors += "SEEN";
  EXPECT_FALSE(parse(ors).program);

  std::string many;
  for (int i = 0; i < 1001; ++i) many += "SEEN ";
  r = parse(many);
  EXPECT_FALSE(r.program);
  EXPECT_EQ(r.error, "Too many search keys");

  SearchLimits limits;
  limits.max_depth = 2;
  EXPECT_TRUE(parse("NOT NOT SEEN", false, false, limits).program);
  EXPECT_FALSE(parse("NOT NOT NOT SEEN", false, false, limits).program);
  EXPECT_FALSE(parse("((( SEEN )))", false, false, limits).program);

  limits = SearchLimits{};
  limits.max_string_bytes = 4;
  EXPECT_TRUE(parse("BODY abcd", false, false, limits).program);
  EXPECT_FALSE(parse("BODY abcde", false, false, limits).program);
}

TEST(Search, FoldAndDates) {
  EXPECT_EQ(search_fold("HeLLo"), "hello");
  EXPECT_EQ(search_fold("\xc3\x84\xc3\x96\xc3\x9c\xc3\x97"), "\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x97");  // ÄÖÜ× -> äöü×
  EXPECT_EQ(search_fold("\xc5\x81\xc3\x93\xc5\xb9"), "\xc5\x82\xc3\xb3\xc5\xba");  // ŁÓŹ -> łóź
  EXPECT_EQ(search_fold("\xce\xa3\xcf\x82"), "\xcf\x83\xcf\x83");  // Σς -> σσ
  EXPECT_EQ(search_fold("\xd0\x81\xd0\xaf"), "\xd1\x91\xd1\x8f");  // ЁЯ -> ёя
  EXPECT_EQ(search_fold("a\xff" "b"), "a\xef\xbf\xbd" "b");        // invalid byte -> U+FFFD
  EXPECT_EQ(search_fold("\xc3"), "\xef\xbf\xbd");
  EXPECT_EQ(search_fold("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate bytes

  const auto d = parse_search_date("1-Feb-1994");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, std::make_tuple(1994, 2, 1));
  EXPECT_EQ(*parse_search_date("29-feb-2024"), std::make_tuple(2024, 2, 29));
  for (const char* b : {"", "1-Feb", "1-Feb-94", "001-Feb-1994", "1-Fe-1994", "x-Feb-1994", "1-Feb-19a4",
                        "0-Feb-1994", "31-Apr-2000", "1 -Feb-1994", "1-Feb-1994 "}) {
    EXPECT_FALSE(parse_search_date(b)) << b;
  }
}

}  // namespace
}  // namespace imapd
