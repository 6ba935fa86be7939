// tests/imapd/fetch_test.cpp: FETCH (imapd/fetch.hpp): the attribute parser
// (macros, sections, partials, malformed input) and byte-exact rendering of
// ENVELOPE, BODYSTRUCTURE, BODY and every section form for real-world
// messages (multipart/mixed with an attachment, a forwarded message/rfc822,
// groups and encoded words), stored with LF line ends as in Maildir and
// compared with hand-checked CRLF sizes and bytes.
#include "imapd/fetch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "imapd/lexer.hpp"

namespace imapd {
namespace {

// RFC 3501 6.3.11's APPEND example.
const std::string kSimple = R"EML(Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)
From: Fred Foobar <foobar@Blurdybloop.example>
Subject: afternoon meeting
To: mooch@owatagu.siam.edu.example
Message-Id: <B27397-0100000@Blurdybloop.example>
MIME-Version: 1.0
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII

Hello Joe, do you think we can meet at 3:30 tomorrow?
)EML";

// multipart/mixed: multipart/alternative (QP text, 8-bit HTML) and a base64
// PDF with every extension field (RFC 2231 file name, ID, description, MD5,
// languages, location).
const std::string kMixed = R"EML(Return-Path: <anna@example.com>
Date: Tue, 14 Mar 2023 09:26:53 +0100
From: Anna Example <anna@example.com>
To: Bob <bob@example.org>, carol@example.net
Cc: "Doe, John" <john.doe@example.com>
Subject: Report with attachment
Message-ID: <20230314.1@example.com>
In-Reply-To: <prev@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer-boundary"

This is a multi-part message in MIME format.
--outer-boundary
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hello Bob,
the report is attached. Gr=C3=BC=C3=9Fe
--inner
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

<p>Hello Bob, Grüße</p>
--inner--

--outer-boundary
Content-Type: application/pdf; name="report.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf
Content-ID: <part3@example.com>
Content-Description: The report
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Language: en, de
Content-Location: http://example.com/report.pdf

JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K
ZW5kc3RyZWFtCmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK
--outer-boundary--
)EML";

// A forwarded message: multipart/mixed with a message/rfc822 part whose
// message is multipart/alternative.
const std::string kForward = R"EML(From: Carol <carol@example.net>
To: Dave <dave@example.org>
Subject: Fwd: lunch
Date: Wed, 15 Mar 2023 12:00:00 -0500
Message-ID: <fwd1@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

See below.

--b1
Content-Type: message/rfc822
Content-Disposition: inline

From: Eve <eve@example.com>
To: Carol <carol@example.net>
Subject: lunch
Date: Tue, 14 Mar 2023 11:00:00 +0000
Message-ID: <lunch@example.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain; charset=us-ascii

Lunch at noon?
--b2
Content-Type: text/html; charset=us-ascii

<b>Lunch at noon?</b>
--b2--

--b1--
)EML";

// Encoded words, groups, an empty Bcc, a folded Subject, no Sender, an
// unqualified address, Latin-1 quoted-printable.
const std::string kGroups = R"EML(From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>
Reply-To: Lists <lists@example.org>
To: undisclosed-recipients:;
Cc: Friends: a@b.example, "Q, Z" <q@z.example>;, root
Bcc:
Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus
 Berlin
Date: Thu, 16 Mar 2023 08:00:00 +0100
Message-ID: <m4@example.org>
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Sch=F6ne Gr=FC=DFe aus Berlin.
Zweite Zeile=
 verbunden.
)EML";

std::string lf_to_crlf(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// Parses "a FETCH 1 <att>" and the attribute list.
std::optional<FetchRequest> request(const std::string& att, bool uid = false, std::string* error = nullptr) {
  const std::string text = "a FETCH 1 " + att;  // literal values point into it
  const auto cmd = parse_command(text);
  if (!cmd.ok() || cmd.args.size() != 2) {
    if (error) *error = "lexer: " + cmd.error;
    return std::nullopt;
  }
  std::string e;
  auto req = parse_fetch_attributes(cmd.args[1], uid, e);
  if (error) *error = e;
  return req;
}

// Renders one FETCH of `att` for `raw`; "status:N" when not ok.
std::string fetch(const std::string& raw, const std::string& att, FetchMessageInfo info = {}) {
  std::string error;
  const auto req = request(att, false, &error);
  if (!req) return "parse error: " + error;
  MessageText message(raw);
  std::string out;
  const auto status = render_fetch(*req, info, &message, out);
  if (status != FetchStatus::ok) return "status:" + std::to_string(static_cast<int>(status));
  return out;
}

TEST(FetchCrlf, ConvertsBareLineFeedsOnly) {
  EXPECT_EQ(crlf_size(""), 0u);
  EXPECT_EQ(crlf_size("a\nb\n"), 6u);
  EXPECT_EQ(crlf_size("a\r\nb\r\n"), 6u);
  EXPECT_EQ(crlf_size("\n\n"), 4u);
  EXPECT_EQ(crlf_size("a\rb"), 3u);  // bare CR stays
  EXPECT_EQ(to_crlf("a\nb\r\nc\n\nd"), "a\r\nb\r\nc\r\n\r\nd");
  EXPECT_EQ(to_crlf("\n"), "\r\n");
  EXPECT_EQ(to_crlf("x\r"), "x\r");
  const std::string crlf = lf_to_crlf(kMixed);
  EXPECT_EQ(to_crlf(kMixed), crlf);
  EXPECT_EQ(crlf_size(kMixed), 1266u);  // the ",W=" size; 1225 bytes on disk
  MessageText in_place(crlf);
  EXPECT_EQ(in_place.text().data(), crlf.data());  // no copy when already CRLF
  MessageText converted(kMixed);
  EXPECT_EQ(converted.size(), 1266u);
  EXPECT_EQ(converted.text(), crlf);
  EXPECT_EQ(converted.size(), 1266u);
}

TEST(FetchCrlf, HeaderFirstThenWholeTextAgree) {
  // header() converts only the header; the body is converted later into the
  // same buffer without moving what the header points at.
  MessageText m(kMixed);
  const auto& h = m.header();
  ASSERT_NE(h.find("Subject"), nullptr);
  const std::string_view subject = h.find("Subject")->raw_value;
  EXPECT_EQ(h.body_start, lf_to_crlf(kMixed.substr(0, kMixed.find("\n\n") + 2)).size());
  const std::string_view whole = m.text();
  EXPECT_EQ(whole, lf_to_crlf(kMixed));
  EXPECT_EQ(m.header_text(), lf_to_crlf(kMixed.substr(0, kMixed.find("\n\n") + 2)));
  EXPECT_EQ(h.find("Subject")->raw_value.data(), subject.data());
  EXPECT_EQ(subject, " Report with attachment");
  EXPECT_EQ(m.mime().root.header.body_start, h.body_start);
  EXPECT_EQ(m.mime().root.header.fields.size(), h.fields.size());
  // The text first, then the header: same result.
  MessageText m2(kMixed);
  EXPECT_EQ(m2.text(), lf_to_crlf(kMixed));
  EXPECT_EQ(m2.header().body_start, h.body_start);
  EXPECT_EQ(m2.header_text(), m.header_text());
  MessageText m5(kMixed);  // MIME tree first
  EXPECT_EQ(m5.mime().root.header.body_start, h.body_start);
  EXPECT_EQ(m5.header_text(), m.header_text());
  // CR LF CR LF ends the header too; a lone CR does not end a line.
  MessageText m3("A: 1\r\n\r\nbody\nmore\n");
  EXPECT_EQ(m3.header().body_start, 8u);
  EXPECT_EQ(m3.text(), "A: 1\r\n\r\nbody\r\nmore\r\n");
  MessageText m4("A: 1\r\nB: 2\n\rX\n\nbody");
  EXPECT_EQ(m4.header().fields.size(), 2u);
  EXPECT_EQ(m4.text(), "A: 1\r\nB: 2\r\n\rX\r\n\r\nbody");
}

struct RequestCase {
  const char* label;
  const char* att;
  bool uid;
  std::vector<FetchAttr> attrs;
  bool needs_message, needs_size, sets_seen;
};

TEST(FetchRequest, ParsesAttributes) {
  using A = FetchAttr;
  const RequestCase cases[] = {
      {"flags only", "FLAGS", false, {A::flags}, false, false, false},
      {"uid fetch adds UID first", "(FLAGS)", true, {A::uid, A::flags}, false, false, false},
      {"uid fetch keeps UID", "(FLAGS UID)", true, {A::flags, A::uid}, false, false, false},
      {"ALL", "ALL", false, {A::flags, A::internaldate, A::rfc822_size, A::envelope}, true, true, false},
      {"fast lower case", "fast", false, {A::flags, A::internaldate, A::rfc822_size}, false, true, false},
      {"FULL", "FULL", false, {A::flags, A::internaldate, A::rfc822_size, A::envelope, A::body}, true, true,
       false},
      {"body sets seen", "BODY[]", false, {A::body_section}, true, false, true},
      {"peek does not", "BODY.PEEK[]", false, {A::body_section}, true, false, false},
      {"rfc822", "RFC822", false, {A::rfc822}, true, false, true},
      {"rfc822.header peeks", "RFC822.HEADER", false, {A::rfc822_header}, true, false, false},
      {"rfc822.text", "RFC822.TEXT", false, {A::rfc822_text}, true, false, true},
      {"binary", "(BINARY[1] BINARY.SIZE[1])", false, {A::binary, A::binary_size}, true, false, true},
      {"binary peek", "BINARY.PEEK[1]<0.5>", false, {A::binary}, true, false, false},
      {"bodystructure", "(UID BODYSTRUCTURE MODSEQ)", false, {A::uid, A::bodystructure, A::modseq}, true,
       false, false},
      {"internaldate", "INTERNALDATE", false, {A::internaldate}, false, false, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    std::string error;
    const auto req = request(c.att, c.uid, &error);
    ASSERT_TRUE(req) << error;
    std::vector<FetchAttr> got;
    for (const auto& i : req->items) got.push_back(i.attr);
    EXPECT_EQ(got, c.attrs);
    EXPECT_EQ(req->needs_message, c.needs_message);
    EXPECT_EQ(req->needs_size, c.needs_size);
    EXPECT_EQ(req->sets_seen, c.sets_seen);
  }
}

TEST(FetchRequest, ParsesSections) {
  const struct {
    const char* att;
    const char* section;  // SectionSpec::to_string()
    bool partial;
  } cases[] = {
      {"BODY[]", "", false},
      {"BODY[HEADER]", "HEADER", false},
      {"body.peek[text]", "TEXT", false},
      {"BODY[1]", "1", false},
      {"BODY[1.2.3]", "1.2.3", false},
      {"BODY[1.MIME]", "1.MIME", false},
      {"BODY[2.header]", "2.HEADER", false},
      {"BODY[HEADER.FIELDS (From To)]", "HEADER.FIELDS (From To)", false},
      {"BODY[header.fields.not (\"X-Spam\" {2}\r\nCc)]", "HEADER.FIELDS.NOT (X-Spam Cc)", false},
      {"BODY[4.1.HEADER.FIELDS (Subject)]<10.20>", "4.1.HEADER.FIELDS (Subject)", true},
      {"BINARY[3]", "3", false},
      {"BINARY.SIZE[]", "", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.att);
    std::string error;
    const auto req = request(c.att, false, &error);
    ASSERT_TRUE(req) << error;
    ASSERT_EQ(req->items.size(), 1u);
    EXPECT_EQ(req->items[0].section.to_string(), c.section);
    EXPECT_EQ(req->items[0].partial.has_value(), c.partial);
  }
  const auto req = request("BODY[1.2.HEADER.FIELDS (A)]<10.20>");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->items[0].section.part, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(req->items[0].section.text, SectionSpec::Text::header_fields);
  EXPECT_EQ(req->items[0].partial->origin, 10u);
  EXPECT_EQ(*req->items[0].partial->count, 20u);
}

TEST(FetchRequest, RejectsMalformed) {
  const char* bad[] = {
      "()",                           // empty list
      "FOO",                          // unknown
      "(FLAGS FOO)",                  // unknown in a list
      "(ALL)",                        // macros only alone
      "\"FLAGS\"",                    // quoted
      "(FLAGS (UID))",                // nested list
      "42",                           // number
      "BODY.PEEK",                    // no section
      "BODY[0]",                      // part 0
      "BODY[01]",                     // leading zero
      "BODY[1.]",                     // trailing dot
      "BODY[1..2]",                   // empty number
      "BODY[4294967296]",             // over 32 bits
      "BODY[MIME]",                   // MIME without part
      "BODY[FOO]",                    // unknown text
      "BODY[HEADER.FIELDS]",          // no names
      "BODY[HEADER.FIELDS ()]",       // empty names
      "BODY[HEADER.FIELDS (a:b)]",    // colon in a name
      "BODY[HEADER.FIELDS (\"a b\")]",  // space in a name
      "BODY[HEADER.FIELDS From]",     // not a list
      "BODY[HEADER (From)]",          // list after HEADER
      "BODY[TEXT.MIME]",              // text after text
      "BODY[1.TEXT.HEADER]",          // two texts
      "BODY[]<5>",                    // partial without count
      "BODY[]<5.0>",                  // count 0
      "BINARY[1.MIME]",               // binary with text
      "BINARY[HEADER]",               // binary with text
      "BINARY.SIZE[1]<0.5>",          // size with partial
      "BODY[\"1\"]",                  // quoted section
  };
  for (const char* att : bad) {
    SCOPED_TRACE(att);
    std::string error;
    EXPECT_FALSE(request(att, false, &error));
    EXPECT_FALSE(error.empty());
  }
  // Item limit.
  std::string many = "(";
  for (int i = 0; i < 1001; ++i) many += "FLAGS ";
  many.back() = ')';
  std::string error;
  EXPECT_FALSE(request(many, false, &error));
}

TEST(FetchEnvelope, RfcExample) {
  EXPECT_EQ(fetch(kSimple, "ENVELOPE"),
            "(ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"afternoon meeting\" "
            "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
            "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
            "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
            "((NIL NIL \"mooch\" \"owatagu.siam.edu.example\")) NIL NIL NIL "
            "\"<B27397-0100000@Blurdybloop.example>\"))");
}

TEST(FetchEnvelope, ListsAndInReplyTo) {
  EXPECT_EQ(fetch(kMixed, "ENVELOPE"),
            "(ENVELOPE (\"Tue, 14 Mar 2023 09:26:53 +0100\" \"Report with attachment\" "
            "((\"Anna Example\" NIL \"anna\" \"example.com\")) "
            "((\"Anna Example\" NIL \"anna\" \"example.com\")) "
            "((\"Anna Example\" NIL \"anna\" \"example.com\")) "
            "((\"Bob\" NIL \"bob\" \"example.org\")(NIL NIL \"carol\" \"example.net\")) "
            "((\"Doe, John\" NIL \"john.doe\" \"example.com\")) NIL "
            "\"<prev@example.org>\" \"<20230314.1@example.com>\"))");
}

TEST(FetchEnvelope, GroupsEncodedWordsAndDefaults) {
  EXPECT_EQ(fetch(kGroups, "ENVELOPE"),
            "(ENVELOPE (\"Thu, 16 Mar 2023 08:00:00 +0100\" \"=?ISO-8859-1?Q?Gr=FC=DFe?= aus Berlin\" "
            "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"joerg\" \"example.org\")) "
            "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"joerg\" \"example.org\")) "
            "((\"Lists\" NIL \"lists\" \"example.org\")) "
            "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
            "((NIL NIL \"Friends\" NIL)(NIL NIL \"a\" \"b.example\")(\"Q, Z\" NIL \"q\" \"z.example\")"
            "(NIL NIL NIL NIL)(NIL NIL \"root\" \"MISSING_DOMAIN\")) "
            "NIL NIL \"<m4@example.org>\"))");
}

TEST(FetchEnvelope, MissingHeaderAnd8Bit) {
  // No header fields at all: everything NIL.
  EXPECT_EQ(fetch("\nbody\n", "ENVELOPE"), "(ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))");
  // 8-bit in a header goes out as a literal (no UTF8=ACCEPT), quotes escaped.
  EXPECT_EQ(fetch("Subject: Gr\xc3\xbc\xc3\x9f" "e\nFrom: \"a\\\"b\" <x@y>\n\nx\n", "ENVELOPE"),
            "(ENVELOPE (NIL {7}\r\nGr\xc3\xbc\xc3\x9f" "e ((\"a\\\"b\" NIL \"x\" \"y\")) ((\"a\\\"b\" NIL \"x\" "
            "\"y\")) ((\"a\\\"b\" NIL \"x\" \"y\")) NIL NIL NIL NIL NIL))");
  // With UTF8=ACCEPT the same subject is quoted.
  MessageText m("Subject: Gr\xc3\xbc\xc3\x9f" "e\n\nx\n");
  std::string out;
  StringStyle utf8;
  utf8.utf8 = true;
  append_envelope(out, m.header(), utf8);
  EXPECT_EQ(out, "(NIL \"Gr\xc3\xbc\xc3\x9f" "e\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

TEST(FetchBodyStructure, SimpleText) {
  EXPECT_EQ(fetch(kSimple, "BODYSTRUCTURE"),
            "(BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 55 1 "
            "NIL NIL NIL NIL))");
  EXPECT_EQ(fetch(kSimple, "BODY"),
            "(BODY (\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 55 1))");
  // No Content-Type at all: text/plain; charset=us-ascii (RFC 2045 5.2).
  EXPECT_EQ(fetch("Subject: x\n\nab\ncd", "BODYSTRUCTURE"),
            "(BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 2 "
            "NIL NIL NIL NIL))");
}

TEST(FetchBodyStructure, MixedWithAttachment) {
  const std::string want =
      "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 51 2 NIL NIL NIL NIL)"
      "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 25 1 NIL NIL NIL NIL) "
      "\"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)"
      "(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<part3@example.com>\" \"The report\" "
      "\"base64\" 114 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
      "(\"attachment\" (\"filename*\" \"utf-8''r%C3%A9sum%C3%A9.pdf\")) (\"en\" \"de\") "
      "\"http://example.com/report.pdf\") "
      "\"mixed\" (\"boundary\" \"outer-boundary\") NIL NIL NIL";
  EXPECT_EQ(fetch(kMixed, "BODYSTRUCTURE"), "(BODYSTRUCTURE (" + want + "))");
  // The stored CRLF file gives the same answer.
  EXPECT_EQ(fetch(lf_to_crlf(kMixed), "BODYSTRUCTURE"), "(BODYSTRUCTURE (" + want + "))");
  EXPECT_EQ(fetch(kMixed, "BODY"),
            "(BODY (((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 51 2)"
            "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 25 1) \"alternative\")"
            "(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<part3@example.com>\" \"The report\" "
            "\"base64\" 114) \"mixed\"))");
}

TEST(FetchBodyStructure, ForwardedMessage) {
  const std::string inner_envelope =
      "(\"Tue, 14 Mar 2023 11:00:00 +0000\" \"lunch\" ((\"Eve\" NIL \"eve\" \"example.com\")) "
      "((\"Eve\" NIL \"eve\" \"example.com\")) ((\"Eve\" NIL \"eve\" \"example.com\")) "
      "((\"Carol\" NIL \"carol\" \"example.net\")) NIL NIL NIL \"<lunch@example.com>\")";
  EXPECT_EQ(fetch(kForward, "BODYSTRUCTURE"),
            "(BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 "
            "NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 371 " +
                inner_envelope +
                " ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 1 NIL NIL NIL NIL)"
                "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1 NIL NIL NIL NIL) "
                "\"alternative\" (\"boundary\" \"b2\") NIL NIL NIL) 17 NIL (\"inline\" NIL) NIL NIL) "
                "\"mixed\" (\"boundary\" \"b1\") NIL NIL NIL))");
}

TEST(FetchBodyStructure, QuotedPrintableLatin1) {
  EXPECT_EQ(fetch(kGroups, "BODYSTRUCTURE"),
            "(BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL "
            "\"quoted-printable\" 60 3 NIL NIL NIL NIL))");
}

struct SectionCase {
  const char* label;
  const std::string* message;
  const char* att;
  std::string want;
};

TEST(FetchSection, EveryForm) {
  const SectionCase cases[] = {
      {"leaf in nested multipart", &kMixed, "BODY[1.1]",
       "(BODY[1.1] {51}\r\nHello Bob,\r\nthe report is attached. Gr=C3=BC=C3=9Fe)"},
      {"mime header of a part", &kMixed, "BODY.PEEK[1.2.MIME]",
       "(BODY[1.2.MIME] {75}\r\nContent-Type: text/html; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\n)"},
      {"partial of attachment", &kMixed, "BODY[2]<0.10>", "(BODY[2]<0> {10}\r\nJVBERi0xLj)"},
      {"partial past the end", &kMixed, "BODY[2]<114.10>", "(BODY[2]<114> {0}\r\n)"},
      {"partial clipped", &kMixed, "BODY[2]<110.10>", "(BODY[2]<110> {4}\r\nT0YK)"},
      {"header fields in message order", &kMixed, "BODY[HEADER.FIELDS (Subject to)]",
       "(BODY[HEADER.FIELDS (Subject to)] {81}\r\nTo: Bob <bob@example.org>, carol@example.net\r\n"
       "Subject: Report with attachment\r\n\r\n)"},
      {"header fields none match", &kMixed, "BODY[HEADER.FIELDS (X-Nothing)]",
       "(BODY[HEADER.FIELDS (X-Nothing)] {2}\r\n\r\n)"},
      {"header fields not", &kMixed,
       "BODY.PEEK[HEADER.FIELDS.NOT (Return-Path Message-ID In-Reply-To MIME-Version Content-Type Date To "
       "Cc)]",
       "(BODY[HEADER.FIELDS.NOT (Return-Path Message-ID In-Reply-To MIME-Version Content-Type Date To Cc)] "
       "{74}\r\nFrom: Anna Example <anna@example.com>\r\nSubject: Report with attachment\r\n\r\n)"},
      {"text partial", &kMixed, "BODY[TEXT]<0.46>",
       "(BODY[TEXT]<0> {46}\r\nThis is a multi-part message in MIME format.\r\n)"},
      {"missing part", &kMixed, "BODY[5]", "(BODY[5] NIL)"},
      {"missing nested part", &kMixed, "BODY[1.3]", "(BODY[1.3] NIL)"},
      {"header of a non-message part", &kMixed, "BODY[1.1.HEADER]", "(BODY[1.1.HEADER] NIL)"},
      {"part 1 of a single-part message", &kSimple, "BODY[1]",
       "(BODY[1] {55}\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n)"},
      {"part 2 of a single-part message", &kSimple, "BODY[2]", "(BODY[2] NIL)"},
      {"mime of single part is the header", &kSimple, "BODY[1.MIME]",
       "(BODY[1.MIME] {271}\r\n" + lf_to_crlf(kSimple.substr(0, kSimple.find("\n\n") + 2)) + ")"},
      {"forwarded message header", &kForward, "BODY[2.HEADER.FIELDS (SUBJECT)]",
       "(BODY[2.HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: lunch\r\n\r\n)"},
      {"forwarded message text starts with boundary", &kForward, "BODY[2.TEXT]<0.6>",
       "(BODY[2.TEXT]<0> {6}\r\n--b2\r\n)"},
      {"part of forwarded message", &kForward, "BODY[2.1]", "(BODY[2.1] {14}\r\nLunch at noon?)"},
      {"html of forwarded message", &kForward, "BODY[2.2]", "(BODY[2.2] {21}\r\n<b>Lunch at noon?</b>)"},
      {"mime of forwarded part", &kForward, "BODY[2.MIME]",
       "(BODY[2.MIME] {61}\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n)"},
      {"mime of forwarded inner part", &kForward, "BODY[2.1.MIME]",
       "(BODY[2.1.MIME] {46}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n)"},
      {"header of forwarded is its whole header", &kForward, "BODY[2.HEADER]<0.29>",
       "(BODY[2.HEADER]<0> {29}\r\nFrom: Eve <eve@example.com>\r\n)"},
      {"folded field kept folded", &kGroups, "BODY[HEADER.FIELDS (Subject)]",
       "(BODY[HEADER.FIELDS (Subject)] {52}\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\r\n Berlin\r\n\r\n)"},
      {"rfc822.header", &kSimple, "RFC822.HEADER",
       "(RFC822.HEADER {271}\r\n" + lf_to_crlf(kSimple.substr(0, kSimple.find("\n\n") + 2)) + ")"},
      {"rfc822.text", &kSimple, "RFC822.TEXT",
       "(RFC822.TEXT {55}\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n)"},
      {"rfc822", &kSimple, "RFC822", "(RFC822 {326}\r\n" + lf_to_crlf(kSimple) + ")"},
      {"body[] of LF file is CRLF", &kForward, "BODY[]", "(BODY[] {717}\r\n" + lf_to_crlf(kForward) + ")"},
      {"rfc822.size", &kMixed, "RFC822.SIZE", "(RFC822.SIZE 1266)"},
      {"binary decodes QP", &kMixed, "BINARY[1.1]",
       "(BINARY[1.1] {43}\r\nHello Bob,\r\nthe report is attached. Gr\xc3\xbc\xc3\x9f" "e)"},
      {"binary decodes base64", &kMixed, "BINARY.PEEK[2]<0.4>", "(BINARY[2]<0> {4}\r\n%PDF)"},
      {"binary size", &kMixed, "BINARY.SIZE[2]", "(BINARY.SIZE[2] 84)"},
      {"binary latin-1 soft break", &kGroups, "BINARY[1]",
       "(BINARY[1] {51}\r\nSch\xf6ne Gr\xfc\xdf" "e aus Berlin.\r\nZweite Zeile verbunden.\r\n)"},
      {"binary missing part", &kMixed, "BINARY[9]", "(BINARY[9] NIL)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(fetch(*c.message, c.att), c.want);
  }
}

TEST(FetchSection, BinaryWithNulIsLiteral8AndUnknownEncodingFails) {
  const std::string msg = "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAGEA\n";
  EXPECT_EQ(fetch(msg, "BINARY[1]"), std::string("(BINARY[1] ~{3}\r\n\0a\0)", 21));
  const std::string uu = "Content-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n\nbegin\n";
  EXPECT_EQ(fetch(uu, "BINARY[1]"), "status:" + std::to_string(static_cast<int>(FetchStatus::unknown_cte)));
  EXPECT_EQ(fetch(uu, "BODY[1]"), "(BODY[1] {7}\r\nbegin\r\n)");
}

TEST(FetchRender, FullResponseInRequestOrder) {
  FetchMessageInfo info;
  info.uid = 42;
  info.flags = "\\Seen $Forwarded";
  info.internal_date = 1678782413;  // 2023-03-14 08:26:53 UTC
  info.zone_offset_minutes = 60;
  info.size = 1266;
  info.modseq = 9;
  EXPECT_EQ(fetch(kMixed, "(UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ)", info),
            "(UID 42 FLAGS (\\Seen $Forwarded) INTERNALDATE \"14-Mar-2023 09:26:53 +0100\" "
            "RFC822.SIZE 1266 MODSEQ (9))");
  info.add_flags = true;
  EXPECT_EQ(fetch(kSimple, "BODY[TEXT]<0.5>", info), "(BODY[TEXT]<0> {5}\r\nHello FLAGS (\\Seen $Forwarded))");
  EXPECT_EQ(fetch(kSimple, "(FLAGS UID)", info), "(FLAGS (\\Seen $Forwarded) UID 42)");
}

TEST(FetchRender, NoFileNeededForFlagsUidDateAndKnownSize) {
  FetchMessageInfo info;
  info.uid = 3;
  info.flags = "";
  info.internal_date = 0;
  info.zone_offset_minutes = 0;
  info.size = 10;
  std::string error;
  auto req = request("(FLAGS UID INTERNALDATE RFC822.SIZE)", true, &error);
  ASSERT_TRUE(req) << error;
  EXPECT_FALSE(req->needs_message);
  std::string out = "* 1 FETCH ";
  EXPECT_EQ(render_fetch(*req, info, nullptr, out), FetchStatus::ok);
  EXPECT_EQ(out, "* 1 FETCH (FLAGS () UID 3 INTERNALDATE \" 1-Jan-1970 00:00:00 +0000\" RFC822.SIZE 10)");

  // Size unknown and no file: unavailable, and `out` is left untouched.
  info.size.reset();
  out = "* 1 FETCH ";
  EXPECT_EQ(render_fetch(*req, info, nullptr, out), FetchStatus::message_unavailable);
  EXPECT_EQ(out, "* 1 FETCH ");
  req = request("(UID ENVELOPE)");
  out = "x";
  EXPECT_EQ(render_fetch(*req, info, nullptr, out), FetchStatus::message_unavailable);
  EXPECT_EQ(out, "x");
}

TEST(FetchRender, HostileMessagesDoNotBreakTheGrammar) {
  // Empty file, header only without line break, NUL bytes, a boundary that
  // never appears, deep nesting.
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" + std::to_string(i) + "\n";
  const std::string inputs[] = {
      "",
      "Subject: x",
      std::string("Subject: a\0b\n\nx\0y\n", 18),
      "Content-Type: multipart/mixed; boundary=zzz\n\nno boundary here\n",
      "Content-Type: message/rfc822\n\n",
      deep,
  };
  for (const auto& raw : inputs) {
    const std::string out = fetch(raw, "(ENVELOPE BODYSTRUCTURE BODY[1] BODY[HEADER] BODY[TEXT] BINARY.SIZE[1])");
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.front(), '(');
    EXPECT_EQ(out.back(), ')');
    int depth = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      // Skip literals and quoted strings when counting parentheses.
      if (out[i] == '{') {
        const std::size_t close = out.find('}', i);
        const std::size_t n = std::stoul(out.substr(i + 1, close - i - 1));
        i = close + 2 + n;
        continue;
      }
      if (out[i] == '"') {
        for (++i; out[i] != '"'; ++i) {
          if (out[i] == '\\') ++i;
        }
        continue;
      }
      if (out[i] == '(') ++depth;
      if (out[i] == ')') --depth;
      ASSERT_GE(depth, 0);
    }
    EXPECT_EQ(depth, 0);
  }
  EXPECT_EQ(fetch("", "BODYSTRUCTURE"),
            "(BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL))");
  EXPECT_EQ(fetch("Subject: x", "(BODY[HEADER] BODY[TEXT])"), "(BODY[HEADER] {10}\r\nSubject: x BODY[TEXT] {0}\r\n)");
}

TEST(InternalDate, FormatsAndParses) {
  EXPECT_EQ(format_internal_date(1678782413, 60), "14-Mar-2023 09:26:53 +0100");
  EXPECT_EQ(format_internal_date(1678782413, -330), "14-Mar-2023 02:56:53 -0530");
  EXPECT_EQ(format_internal_date(0, 0), " 1-Jan-1970 00:00:00 +0000");
  const struct {
    const char* text;
    std::time_t time;
    int zone;
  } good[] = {
      {"17-Jul-1996 02:44:25 -0700", 837596665, -420},
      {" 7-Feb-1994 21:52:25 -0800", 760686745, -480},
      {"7-feb-1994 21:52:25 -0800", 760686745, -480},
      {"29-Feb-2024 00:00:00 +0000", 1709164800, 0},
      {"01-Jan-1970 00:00:00 +0000", 0, 0},
  };
  for (const auto& g : good) {
    SCOPED_TRACE(g.text);
    const auto d = parse_internal_date(g.text);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->time, g.time);
    EXPECT_EQ(d->zone_offset_minutes, g.zone);
  }
  const char* bad[] = {"",
                       "17-Jul-1996",
                       "17-Jux-1996 02:44:25 -0700",
                       "32-Jul-1996 02:44:25 -0700",
                       "29-Feb-2023 02:44:25 -0700",
                       "17-Jul-1996 24:44:25 -0700",
                       "17-Jul-1996 02:60:25 -0700",
                       "17-Jul-1996 02:44:25 0700",
                       "17-Jul-1996 02:44:25 -07000",
                       "17-Jul-1996 02:44:25 -0760",
                       "17-Jul-96 02:44:25 -0700",
                       "0-Jul-1996 02:44:25 -0700",
                       "17-Jul-1996  02:44:25 -0700",
                       "123-Jul-1996 02:44:25 -0700"};
  for (const char* b : bad) {
    SCOPED_TRACE(b);
    EXPECT_FALSE(parse_internal_date(b));
  }
}

}  // namespace
}  // namespace imapd
