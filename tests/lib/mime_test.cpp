// tests/lib/mime_test.cpp: MIME structure, parameters, encoded words, transfer
// encodings and charsets (lib/mime.hpp), with real-world malformed messages,
// oversized headers and hostile nesting.
#include "lib/mime.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace {

using lib::mime::DiagnosticKind;
using lib::mime::Message;
using lib::mime::Part;
using K = lib::mime::DiagnosticKind;

// "multipart/mixed(text/plain,message/rfc822[text/html])"
std::string signature(const Part& p) {
  std::string s = p.type + "/" + p.subtype;
  if (p.is_multipart()) {
    s += "(";
    for (std::size_t i = 0; i < p.children.size(); ++i) {
      if (i) s += ",";
      s += signature(p.children[i]);
    }
    s += ")";
  } else if (const Part* m = p.message()) {
    s += "[" + signature(*m) + "]";
  }
  return s;
}

std::set<DiagnosticKind> kinds(const Message& m) {
  std::set<DiagnosticKind> out;
  for (const auto& d : m.diagnostics) out.insert(d.kind);
  return out;
}

std::string names(const std::set<DiagnosticKind>& ks) {
  std::string s;
  for (auto k : ks) s += std::string(lib::rfc5322::diagnostic_name(k)) + " ";
  return s;
}

// Structural invariants every parse must satisfy, whatever the input.
void check_invariants(const Part& p, std::string_view msg, std::size_t lo, std::size_t hi) {
  ASSERT_LE(lo, p.header_start);
  ASSERT_LE(p.header_start, p.body_start);
  ASSERT_LE(p.body_start, p.body_end);
  ASSERT_LE(p.body_end, hi);
  ASSERT_LE(p.body_lines, p.body_bytes() + 1);
  for (const auto& f : p.header.fields) {
    ASSERT_GE(f.name.data(), msg.data());
    ASSERT_LE(f.raw_value.data() + f.raw_value.size(), msg.data() + msg.size());
    ASSERT_LE(f.offset + f.size, p.body_start);
  }
  if (p.is_multipart()) {
    ASSERT_FALSE(p.children.empty());
  }
  if (p.type == "message") {
    ASSERT_LE(p.children.size(), 1u);
  }
  if (!p.is_multipart() && p.type != "message") {
    ASSERT_TRUE(p.children.empty());
  }
  std::size_t prev = p.body_start;
  for (const Part& c : p.children) {
    ASSERT_GE(c.header_start, prev);
    check_invariants(c, msg, p.body_start, p.body_end);
    prev = c.body_end;
  }
}

// ---------------------------------------------------------------------------
// Structure: table of real-world-shaped messages
// ---------------------------------------------------------------------------

struct StructureCase {
  const char* label;
  std::string message;
  std::string signature;
  std::set<DiagnosticKind> diagnostics;
};

const std::string simple_multipart =
    "From: a@example.com\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "This is the preamble.\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Hello\r\n"
    "world\r\n"
    "--XX\r\n"
    "Content-Type: application/pdf; name=a.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0=\r\n"
    "--XX--\r\n"
    "epilogue\r\n";

TEST(MimeStructure, Table) {
  const std::vector<StructureCase> cases = {
      {"plain text, no mime headers", "Subject: x\r\n\r\nhi\r\n", "text/plain", {}},
      {"headers only", "Subject: x\r\n", "text/plain", {}},
      {"empty message", "", "text/plain", {}},
      {"simple multipart", simple_multipart, "multipart/mixed(text/plain,application/pdf)", {}},
      {"lf line ends",
       "Content-Type: multipart/alternative; boundary=b\n\n--b\n\nplain\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b--\n",
       "multipart/alternative(text/plain,text/html)", {}},
      {"nested message/rfc822",
       "Content-Type: multipart/mixed; boundary=outer\n\n"
       "--outer\n\nintro\n"
       "--outer\nContent-Type: message/rfc822\n\n"
       "From: inner@example.com\nSubject: inner\nContent-Type: multipart/alternative; boundary=inner\n\n"
       "--inner\nContent-Type: text/plain\n\ninner plain\n"
       "--inner\nContent-Type: text/html\n\n<b>inner</b>\n"
       "--inner--\n"
       "--outer--\n",
       "multipart/mixed(text/plain,message/rfc822[multipart/alternative(text/plain,text/html)])", {}},
      {"message/rfc822 top level", "Content-Type: message/rfc822\n\nSubject: inner\n\nbody\n",
       "message/rfc822[text/plain]", {}},
      {"digest defaults to message/rfc822",
       "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\n1\n--d\nContent-Type: text/plain\n\ntwo\n--d--\n",
       "multipart/digest(message/rfc822[text/plain],text/plain)", {}},
      {"missing close delimiter",
       "Content-Type: multipart/mixed; boundary=b\n\n--b\n\npart one\n--b\n\npart two\n",
       "multipart/mixed(text/plain,text/plain)", {K::missing_close_delimiter}},
      {"inner close missing, ended by outer",
       "Content-Type: multipart/mixed; boundary=o\n\n"
       "--o\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\na\n--i\n\nb\n"
       "--o\n\nc\n--o--\n",
       "multipart/mixed(multipart/alternative(text/plain,text/plain),text/plain)", {K::missing_close_delimiter}},
      {"no boundary parameter", "Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n", "application/octet-stream",
       {K::bad_boundary}},
      {"boundary never found", "Content-Type: multipart/mixed; boundary=nothere\n\n--b\n\nx\n--b--\n",
       "application/octet-stream", {K::bad_boundary}},
      {"overlapping boundaries",
       "Content-Type: multipart/mixed; boundary=abc\n\n"
       "--abc\nContent-Type: multipart/alternative; boundary=abcdef\n\n--abcdef\n\nx\n--abcdef--\n"
       "--abc--\n",
       "multipart/mixed(multipart/alternative(text/plain))", {K::bad_boundary}},
      {"inner boundary is prefix of outer",
       "Content-Type: multipart/mixed; boundary=abcdef\n\n"
       "--abcdef\nContent-Type: multipart/alternative; boundary=abc\n\n--abc\n\nx\n"
       "--abcdef\n\ny\n--abcdef--\n",
       "multipart/mixed(multipart/alternative(text/plain),text/plain)",
       {K::bad_boundary, K::missing_close_delimiter}},
      {"transport padding and prefix match",
       "Content-Type: multipart/mixed; boundary=b\n\n--b   \n\nx\n--b-junk\n\ny\n--b--  \n",
       "multipart/mixed(text/plain,text/plain)", {}},
      {"empty parts",
       "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\n--b--\n", "multipart/mixed(text/plain,text/plain)",
       {}},
      {"part without header or blank line",
       "Content-Type: multipart/mixed; boundary=b\n\n--b\nhello there\n--b--\n", "multipart/mixed(text/plain)",
       {K::malformed_field}},
      {"invalid content-type uses default", "Content-Type: garbage\n\nx\n", "text/plain", {K::invalid_content_type}},
      {"invalid content-type in digest",
       "Content-Type: multipart/digest; boundary=d\n\n--d\nContent-Type: ;;\n\nSubject: s\n\nb\n--d--\n",
       "multipart/digest(message/rfc822[text/plain])", {K::invalid_content_type}},
      {"base64 multipart", "Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\nLS1iCg==\n",
       "application/octet-stream", {K::encoding_on_composite}},
      {"base64 message/rfc822", "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeAo=\n",
       "application/octet-stream", {K::encoding_on_composite}},
      {"base64 message/global is allowed",
       "Content-Type: message/global\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeAo=\n", "application/octet-stream",
       {}},
      {"unknown transfer encoding", "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 a\n", "text/plain",
       {K::unknown_transfer_encoding}},
      {"invalid base64", "Content-Transfer-Encoding: base64\n\nSGVsbG8*!\n", "text/plain", {K::invalid_encoding}},
      {"invalid quoted-printable", "Content-Transfer-Encoding: quoted-printable\n\na=ZZb\n", "text/plain",
       {K::invalid_encoding}},
      {"8-bit headers", "Subject: caf\xc3\xa9\n\nx\n", "text/plain", {K::eight_bit_in_headers}},
      {"8-bit body declared 7bit", "Subject: x\n\ncaf\xc3\xa9\n", "text/plain", {K::eight_bit_undeclared}},
      {"8-bit body declared 8bit", "Content-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9\n", "text/plain", {}},
      {"8-bit in nested part header",
       "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; name=\"\xc3\xa9.txt\"\n\nx\n--b--\n",
       "multipart/mixed(text/plain)", {K::eight_bit_in_headers}},
      {"bare lf in crlf message", "Subject: x\r\n\r\nline\nline\r\n", "text/plain", {K::bare_lf}},
      {"crlf in lf message", "Subject: x\n\nline\r\n", "text/plain", {K::mixed_line_endings}},
      {"bare cr", "Subject: x\r\n\r\na\rb\r\n", "text/plain", {K::bare_cr}},
      {"nul byte", std::string("Subject: x\n\na\0b\n", 15), "text/plain", {K::nul_byte}},
      {"line too long", "Subject: x\n\n" + std::string(1200, 'a') + "\n", "text/plain", {K::line_too_long}},
      {"epilogue with old boundary",
       "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n--b\n\nnot a part\n",
       "multipart/mixed(text/plain)", {}},
      {"unterminated boundary quote",
       "Content-Type: multipart/mixed; boundary=\"b\n\n--b\n\nx\n--b--\n", "multipart/mixed(text/plain)", {}},
      {"unknown multipart subtype is mixed",
       "Content-Type: multipart/x-weird; boundary=w\n\n--w\n\nx\n--w--\n", "multipart/x-weird(text/plain)", {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const Message m = lib::mime::parse(c.message);
    EXPECT_EQ(signature(m.root), c.signature);
    EXPECT_EQ(kinds(m), c.diagnostics) << names(kinds(m));
    check_invariants(m.root, c.message, 0, c.message.size());
  }
}

// ---------------------------------------------------------------------------
// Offsets, sizes, lines
// ---------------------------------------------------------------------------

TEST(MimeStructure, OffsetsSizesAndLines) {
  const std::string& msg = simple_multipart;
  const Message m = lib::mime::parse(msg);
  ASSERT_EQ(m.root.children.size(), 2u);
  EXPECT_EQ(m.line_ending, lib::rfc5322::LineEnding::crlf);
  EXPECT_EQ(m.part_count, 3u);
  EXPECT_EQ(m.root.header_start, 0u);
  EXPECT_EQ(m.root.body(msg).substr(0, 21), "This is the preamble.");
  EXPECT_EQ(m.root.body_end, msg.size());

  const Part& text = m.root.children[0];
  EXPECT_EQ(text.header_text(msg), "Content-Type: text/plain; charset=utf-8\r\n\r\n");
  EXPECT_EQ(text.body(msg), "Hello\r\nworld");  // the CRLF before "--XX" is the boundary's
  EXPECT_EQ(text.body_bytes(), 12u);
  EXPECT_EQ(text.body_lines, 2u);
  EXPECT_EQ(text.charset(), "utf-8");

  const Part& pdf = m.root.children[1];
  EXPECT_EQ(pdf.body(msg), "JVBERi0=");
  EXPECT_EQ(pdf.body_lines, 1u);
  EXPECT_EQ(pdf.encoding, lib::mime::TransferEncoding::base64);
  EXPECT_EQ(pdf.encoding_name, "base64");
  EXPECT_EQ(pdf.filename(), "a.pdf");
  EXPECT_EQ(lib::mime::decode_body(msg, pdf).data, "%PDF-");
}

struct LinesCase {
  const char* label;
  std::string body;
  std::size_t lines;
};

TEST(MimeStructure, LineCounts) {
  const std::vector<LinesCase> cases = {
      {"empty", "", 0},
      {"one line with break", "a\n", 1},
      {"one line without break", "a", 1},
      {"two", "a\nb\n", 2},
      {"blank lines", "\n\n\n", 3},
      {"crlf", "a\r\nb\r\nc", 3},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string msg = "Subject: x\n\n" + c.body;
    const Message m = lib::mime::parse(msg);
    EXPECT_EQ(m.root.body_lines, c.lines);
    EXPECT_EQ(m.root.body_bytes(), c.body.size());
    // The same body inside a multipart: the line break before the boundary
    // is not part of it.
    const std::string mp = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\n" + c.body + "\n--b--\n";
    const Message n = lib::mime::parse(mp);
    ASSERT_EQ(n.root.children.size(), 1u);
    EXPECT_EQ(n.root.children[0].body(mp), c.body);
    EXPECT_EQ(n.root.children[0].body_lines, c.lines);
  }
}

TEST(MimeStructure, MessageRfc822LinesAndEnvelopeHeader) {
  const std::string msg =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: message/rfc822\r\n\r\n"
      "From: Inner <inner@example.com>\r\nSubject: inside\r\n\r\nline1\r\nline2\r\n"
      "--b--\r\n";
  const Message m = lib::mime::parse(msg);
  ASSERT_EQ(signature(m.root), "multipart/mixed(message/rfc822[text/plain])");
  const Part& rfc = m.root.children[0];
  EXPECT_EQ(rfc.body_lines, 5u);  // two header lines, blank line, two body lines
  EXPECT_EQ(rfc.body(msg), "From: Inner <inner@example.com>\r\nSubject: inside\r\n\r\nline1\r\nline2");
  const Part* inner = rfc.message();
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(inner->header.value("subject"), std::optional<std::string>("inside"));
  EXPECT_EQ(inner->header_start, rfc.body_start);
  EXPECT_EQ(inner->body(msg), "line1\r\nline2");
  EXPECT_EQ(inner->body_lines, 2u);
  EXPECT_EQ(inner->body_end, rfc.body_end);
}

// ---------------------------------------------------------------------------
// Part fields
// ---------------------------------------------------------------------------

TEST(MimeStructure, ContentFields) {
  const std::string msg =
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
      "Content-Type: Image/PNG; NAME=\"x.png\"\n"
      "Content-Transfer-Encoding: BASE64 (comment)\n"
      "Content-ID: <part1@example.com>\n"
      "Content-Description: =?utf-8?q?caf=C3=A9?= picture\n"
      "Content-Disposition: Attachment;\n filename*=utf-8''caf%C3%A9.png; size=12\n"
      "Content-Language: en, de (German)\n"
      "Content-Location: http://example.com/\n x.png\n"
      "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
      "Content-Type: text/plain\n"
      "\n"
      "iVBORw0KGgo=\n"
      "--b--\n";
  const Message m = lib::mime::parse(msg);
  ASSERT_EQ(m.root.children.size(), 1u);
  const Part& p = m.root.children[0];
  EXPECT_EQ(p.type, "image");
  EXPECT_EQ(p.subtype, "png");
  ASSERT_NE(p.param("name"), nullptr);
  EXPECT_EQ(p.param("Name")->value, "x.png");
  EXPECT_EQ(p.encoding, lib::mime::TransferEncoding::base64);
  EXPECT_EQ(p.id, "<part1@example.com>");
  EXPECT_EQ(p.description, "=?utf-8?q?caf=C3=A9?= picture");
  EXPECT_EQ(p.disposition, "attachment");
  ASSERT_EQ(p.disposition_params.size(), 2u);
  EXPECT_EQ(p.disposition_params[0].name, "filename");
  EXPECT_EQ(p.disposition_params[0].value, "caf\xc3\xa9.png");
  EXPECT_EQ(p.disposition_params[0].charset, "utf-8");
  EXPECT_EQ(p.disposition_params[0].encoded, "utf-8''caf%C3%A9.png");
  EXPECT_TRUE(p.disposition_params[0].extended());
  EXPECT_FALSE(p.disposition_params[1].extended());
  EXPECT_EQ(p.filename(), "caf\xc3\xa9.png");
  EXPECT_EQ(p.languages, (std::vector<std::string>{"en", "de"}));
  EXPECT_EQ(p.location, "http://example.com/ x.png");
  EXPECT_EQ(p.md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");
  EXPECT_EQ(p.charset(), "");
  EXPECT_EQ(lib::mime::decode_body(msg, p).data, std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST(MimeStructure, DefaultsPerRfc2045) {
  const Message m = lib::mime::parse("Subject: x\n\nbody\n");
  EXPECT_EQ(m.root.type, "text");
  EXPECT_EQ(m.root.subtype, "plain");
  ASSERT_EQ(m.root.params.size(), 1u);
  EXPECT_EQ(m.root.params[0].name, "charset");
  EXPECT_EQ(m.root.params[0].value, "us-ascii");
  EXPECT_EQ(m.root.encoding, lib::mime::TransferEncoding::seven_bit);
  EXPECT_EQ(m.root.encoding_name, "7bit");
  EXPECT_EQ(m.root.disposition, "");
  EXPECT_EQ(m.root.charset(), "us-ascii");
  const Message html = lib::mime::parse("Content-Type: text/html\n\nx");
  EXPECT_TRUE(html.root.params.empty());
  EXPECT_EQ(html.root.charset(), "us-ascii");
}

TEST(MimeStructure, FirstContentTypeWins) {
  const Message m = lib::mime::parse("Content-Type: text/html\nContent-Type: image/gif\n\nx");
  EXPECT_EQ(m.root.subtype, "html");
}

TEST(MimeStructure, FilenameFallbacks) {
  const struct {
    const char* label;
    std::string header;
    std::string expected;
  } cases[] = {
      {"content-type name", "Content-Type: application/pdf; name=\"r.pdf\"\n", "r.pdf"},
      {"disposition wins", "Content-Type: application/pdf; name=a\nContent-Disposition: attachment; filename=b\n", "b"},
      {"rfc 2047 in quotes", "Content-Disposition: attachment; filename=\"=?UTF-8?B?w6kucGRm?=\"\n", "\xc3\xa9.pdf"},
      {"raw latin-1", "Content-Disposition: attachment; filename=\"\xe9.pdf\"\n", "\xc3\xa9.pdf"},
      {"rfc 2231 continuation", "Content-Disposition: attachment; filename*0=\"long\"; filename*1=\"name.txt\"\n",
       "longname.txt"},
      {"none", "Content-Type: text/plain\n", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const Message m = lib::mime::parse(c.header + "\nbody");
    EXPECT_EQ(m.root.filename(), c.expected);
  }
}

// ---------------------------------------------------------------------------
// IMAP section numbers (RFC 3501 6.4.5 example)
// ---------------------------------------------------------------------------

const std::string rfc3501_example =
    "Subject: top\n"
    "Content-Type: multipart/mixed; boundary=\"top\"\n\n"
    "--top\nContent-Type: text/plain\n\npart 1\n"
    "--top\nContent-Type: application/octet-stream\n\npart 2\n"
    "--top\nContent-Type: message/rfc822\n\n"
    "Subject: three\nContent-Type: multipart/mixed; boundary=\"three\"\n\n"
    "--three\nContent-Type: text/plain\n\npart 3.1\n"
    "--three\nContent-Type: application/octet-stream\n\npart 3.2\n"
    "--three--\n"
    "--top\nContent-Type: multipart/mixed; boundary=\"fr\"\n\n"
    "--fr\nContent-Type: image/gif\n\npart 4.1\n"
    "--fr\nContent-Type: message/rfc822\n\n"
    "Subject: four-two\nContent-Type: multipart/mixed; boundary=\"ftwo\"\n\n"
    "--ftwo\nContent-Type: text/plain\n\npart 4.2.1\n"
    "--ftwo\nContent-Type: multipart/alternative; boundary=\"alt\"\n\n"
    "--alt\nContent-Type: text/plain\n\npart 4.2.2.1\n"
    "--alt\nContent-Type: text/richtext\n\npart 4.2.2.2\n"
    "--alt--\n"
    "--ftwo--\n"
    "--fr--\n"
    "--top--\n";

TEST(MimeSection, Rfc3501Example) {
  const Message m = lib::mime::parse(rfc3501_example);
  EXPECT_TRUE(m.diagnostics.empty()) << names(kinds(m));
  const struct {
    const char* section;
    const char* type;
    const char* body;  // nullptr: not a leaf
  } cases[] = {
      {"1", "text/plain", "part 1"},
      {"2", "application/octet-stream", "part 2"},
      {"3", "message/rfc822", nullptr},
      {"3.1", "text/plain", "part 3.1"},
      {"3.2", "application/octet-stream", "part 3.2"},
      {"4", "multipart/mixed", nullptr},
      {"4.1", "image/gif", "part 4.1"},
      {"4.2", "message/rfc822", nullptr},
      {"4.2.1", "text/plain", "part 4.2.1"},
      {"4.2.2", "multipart/alternative", nullptr},
      {"4.2.2.1", "text/plain", "part 4.2.2.1"},
      {"4.2.2.2", "text/richtext", "part 4.2.2.2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.section);
    const Part* p = lib::mime::find_section(m.root, c.section);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->type + "/" + p->subtype, c.type);
    if (c.body) {
      EXPECT_EQ(p->body(rfc3501_example), c.body);
    }
  }
  EXPECT_EQ(lib::mime::find_section(m.root, ""), &m.root);
  const Part* three = lib::mime::find_section(m.root, "3");
  ASSERT_NE(three, nullptr);
  EXPECT_EQ(three->message()->header.value("Subject"), std::optional<std::string>("three"));
  for (const char* bad : {"0", "5", "1.1", "2.1", "3.3", "4.3", "4.2.3", "01", "1.", ".1", "1..2", "a", "-1",
                          "4.2.2.1.1", "99999999999999999999", "3.0"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(lib::mime::find_section(m.root, bad), nullptr);
  }
}

TEST(MimeSection, NonMultipartTopLevel) {
  const std::string msg = "Subject: x\n\nbody\n";
  const Message m = lib::mime::parse(msg);
  EXPECT_EQ(lib::mime::find_section(m.root, "1"), &m.root);
  EXPECT_EQ(lib::mime::find_section(m.root, "2"), nullptr);
  EXPECT_EQ(lib::mime::find_section(m.root, "1.1"), nullptr);

  // Top-level message/rfc822 whose message is not multipart: 1.1 is its body.
  const std::string fwd = "Content-Type: message/rfc822\n\nSubject: in\n\ninner\n";
  const Message f = lib::mime::parse(fwd);
  EXPECT_EQ(lib::mime::find_section(f.root, "1"), &f.root);
  const Part* in = lib::mime::find_section(f.root, "1.1");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->body(fwd), "inner\n");
  EXPECT_EQ(lib::mime::find_section(f.root, "1.2"), nullptr);
}

// ---------------------------------------------------------------------------
// Limits and hostile input
// ---------------------------------------------------------------------------

std::size_t depth_of(const Part& p) {
  std::size_t d = 0;
  for (const Part& c : p.children) d = std::max(d, depth_of(c));
  return d + 1;
}

TEST(MimeLimits, DeepNestingBeyondLimit) {
  const int levels = 5000;
  std::string msg;
  for (int i = 0; i < levels; ++i) {
    // "b1x" is no prefix of "b10x": the boundaries do not overlap.
    msg += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "x\"\n\n--b" + std::to_string(i) + "x\n";
  }
  msg += "\ninnermost\n";
  for (int i = levels - 1; i >= 0; --i) msg += "--b" + std::to_string(i) + "x--\n";
  lib::mime::Limits lim;
  lim.max_depth = 20;
  const Message m = lib::mime::parse(msg, lim);
  EXPECT_EQ(kinds(m), std::set<DiagnosticKind>{K::too_complex});
  EXPECT_EQ(depth_of(m.root), 21u);
  check_invariants(m.root, msg, 0, msg.size());
  // The same boundaries with prefix overlaps ("b1", "b10"): reported, and
  // the tree stays consistent.
  std::string overlapping;
  for (int i = 0; i < 200; ++i) {
    overlapping += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" + std::to_string(i) + "\n";
  }
  const Message o = lib::mime::parse(overlapping, lim);
  EXPECT_TRUE(o.has(K::bad_boundary));
  check_invariants(o.root, overlapping, 0, overlapping.size());

  // A max_depth above the cap is capped, so the stack stays bounded.
  lim.max_depth = 1'000'000;
  const Message capped = lib::mime::parse(msg, lim);
  EXPECT_TRUE(capped.has(K::too_complex));
  EXPECT_EQ(depth_of(capped.root), lib::mime::max_depth_cap + 1);
}

TEST(MimeLimits, DeepMessageRfc822Nesting) {
  std::string msg;
  for (int i = 0; i < 3000; ++i) msg += "Content-Type: message/rfc822\n\n";
  msg += "Subject: bottom\n\nx\n";
  const Message m = lib::mime::parse(msg);
  EXPECT_TRUE(m.has(K::too_complex));
  EXPECT_EQ(depth_of(m.root), 31u);
  check_invariants(m.root, msg, 0, msg.size());
}

TEST(MimeLimits, TooManyParts) {
  std::string msg = "Content-Type: multipart/mixed; boundary=b\n\n";
  for (int i = 0; i < 20000; ++i) msg += "--b\n\np\n";
  msg += "--b--\n";
  lib::mime::Limits lim;
  lim.max_parts = 100;
  const Message m = lib::mime::parse(msg, lim);
  EXPECT_TRUE(m.has(K::too_complex));
  EXPECT_EQ(m.part_count, 100u);
  EXPECT_EQ(m.root.children.size(), 99u);
  EXPECT_FALSE(m.has(K::missing_close_delimiter));
  check_invariants(m.root, msg, 0, msg.size());
}

TEST(MimeLimits, HugePartHeader) {
  std::string msg = "Content-Type: multipart/mixed; boundary=b\n\n--b\n";
  for (int i = 0; i < 20000; ++i) msg += "X-Junk-" + std::to_string(i) + ": filler filler filler\n";
  msg += "Content-Type: text/html\n\n<p>after</p>\n--b--\n";
  const Message m = lib::mime::parse(msg);
  EXPECT_TRUE(m.has(K::header_too_large));
  ASSERT_EQ(m.root.children.size(), 1u);
  // The Content-Type past the limit is not seen: the default applies, and the
  // body is still found where it is.
  EXPECT_EQ(m.root.children[0].subtype, "plain");
  EXPECT_EQ(m.root.children[0].body(msg), "<p>after</p>");
}

TEST(MimeLimits, DiagnosticsAreCapped) {
  std::string msg = "Content-Type: multipart/mixed; boundary=b\n\n";
  for (int i = 0; i < 500; ++i) msg += "--b\nContent-Transfer-Encoding: x-bad\n\n\xff\n";
  msg += "--b--\n";
  lib::mime::Limits lim;
  lim.max_diagnostics = 10;
  const Message m = lib::mime::parse(msg, lim);
  EXPECT_EQ(m.diagnostics.size(), 10u);
  EXPECT_TRUE(std::is_sorted(m.diagnostics.begin(), m.diagnostics.end(),
                             [](const auto& a, const auto& b) { return a.offset < b.offset; }));
}

TEST(MimeLimits, ManyDashLinesInDeepStructure) {
  // Lines that begin with "--" and share a prefix with every open boundary.
  std::string msg;
  for (int i = 0; i < 30; ++i) msg += "Content-Type: multipart/mixed; boundary=\"bound" + std::to_string(i) + "\"\n\n--bound" + std::to_string(i) + "\n";
  msg += "\n";
  for (int i = 0; i < 30000; ++i) msg += "--boun\n";
  const Message m = lib::mime::parse(msg);
  check_invariants(m.root, msg, 0, msg.size());
  EXPECT_TRUE(m.has(K::missing_close_delimiter));
}

TEST(MimeLimits, GarbageNeverCrashes) {
  const std::vector<std::string> garbage = {
      "--", "--\n--", "\n\n\n", "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n", "Content-Type:\n\n",
      "Content-Type: multipart/mixed; boundary=x\n\n--x", "Content-Type: multipart/mixed; boundary=x\n\n--x--",
      "Content-Type: multipart/mixed; boundary=x\n--x\n--x--", "Content-Type: message/rfc822\n\n",
      "Content-Type: message/rfc822", std::string("\0\0\0", 3), "\r", "\r\r\n\n", ":\n\n", " \n\n",
      "Content-Type: multipart/mixed; boundary=" + std::string(300, 'x') + "\n\n--x\n",
      "Content-Type: multipart/mixed; boundary*0=a; boundary*1=b\n\n--ab\n\nx\n--ab--\n",
  };
  for (const auto& g : garbage) {
    SCOPED_TRACE(g);
    const Message m = lib::mime::parse(g);
    check_invariants(m.root, g, 0, g.size());
  }
}

// ---------------------------------------------------------------------------
// Content-Type and parameters (RFC 2045 5.1, RFC 2231)
// ---------------------------------------------------------------------------

struct ParamCase {
  const char* label;
  std::string value;
  std::string type;  // "" : parse fails
  std::vector<std::pair<std::string, std::string>> params;
};

TEST(MimeParams, ContentTypeTable) {
  const std::vector<ParamCase> cases = {
      {"simple", "text/plain", "text/plain", {}},
      {"case", "TEXT/Plain; CHARSET=UTF-8", "text/plain", {{"charset", "UTF-8"}}},
      {"quoted", "multipart/mixed; boundary=\"a b;c\"", "multipart/mixed", {{"boundary", "a b;c"}}},
      {"escaped quote", "a/b; x=\"1\\\"2\"", "a/b", {{"x", "1\"2"}}},
      {"comments", "text/plain (c1); (c2) charset = \"us-ascii\" (c3)", "text/plain", {{"charset", "us-ascii"}}},
      {"comment after token", "text/plain; charset=us-ascii (Plain text)", "text/plain", {{"charset", "us-ascii"}}},
      {"unquoted tspecials", "multipart/mixed; boundary=----=_Part_1_2.3", "multipart/mixed",
       {{"boundary", "----=_Part_1_2.3"}}},
      {"missing semicolon", "text/plain charset=utf-8", "text/plain", {{"charset", "utf-8"}}},
      {"trailing semicolons", "text/plain;;; charset=a;", "text/plain", {{"charset", "a"}}},
      {"no value", "text/plain; flag; charset=a", "text/plain", {{"charset", "a"}}},
      {"duplicate first wins", "text/plain; charset=a; charset=b", "text/plain", {{"charset", "a"}}},
      {"unterminated quote", "text/plain; name=\"abc", "text/plain", {{"name", "abc"}}},
      {"folded", "text/plain;\r\n\tcharset=\"utf-8\"", "text/plain", {{"charset", "utf-8"}}},
      {"rfc2231 extended", "application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
       "application/x-stuff", {{"title", "This is ***fun***"}}},
      {"rfc2231 continuations",
       "message/external-body; access-type=URL; URL*0=\"ftp://\"; URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
       "message/external-body",
       {{"access-type", "URL"}, {"url", "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"}}},
      {"rfc2231 mixed encoded sections",
       "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; "
       "title*2=\"isn't it!\"",
       "application/x-stuff", {{"title", "This is even more ***fun*** isn't it!"}}},
      {"rfc2231 out of order", "a/b; n*1=b; n*0=a; n*2=c", "a/b", {{"n", "abc"}}},
      {"rfc2231 gap stops", "a/b; n*0=a; n*2=c", "a/b", {{"n", "a"}}},
      {"rfc2231 duplicate section", "a/b; n*0=a; n*0=x; n*1=b", "a/b", {{"n", "ab"}}},
      {"rfc2231 wins over plain", "a/b; name=\"plain.txt\"; name*=utf-8''%C3%A9.txt", "a/b",
       {{"name", "\xc3\xa9.txt"}}},
      {"rfc2231 latin-1", "a/b; name*=iso-8859-1''%E9t%E9", "a/b", {{"name", "\xc3\xa9t\xc3\xa9"}}},
      {"rfc2231 unknown charset keeps bytes", "a/b; name*=x-nope''%41%42", "a/b", {{"name", "AB"}}},
      {"rfc2231 no quotes", "a/b; name*=abc%41", "a/b", {{"name", "abcA"}}},
      {"rfc2231 bad percent", "a/b; name*=utf-8''%zz%4", "a/b", {{"name", "%zz%4"}}},
      {"no subtype", "text", "", {}},
      {"empty subtype", "text/", "", {}},
      {"empty", "", "", {}},
      {"garbage", ";;;", "", {}},
      {"tspecial in type", "te\"xt/plain", "", {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto ct = lib::mime::parse_content_type(c.value);
    if (c.type.empty()) {
      EXPECT_FALSE(ct.has_value());
      continue;
    }
    ASSERT_TRUE(ct.has_value());
    EXPECT_EQ(ct->type + "/" + ct->subtype, c.type);
    std::vector<std::pair<std::string, std::string>> got;
    for (const auto& p : ct->params) got.emplace_back(p.name, p.value);
    EXPECT_EQ(got, c.params);
  }
}

// fuzz_mime found it: a comment ending in a lone backslash ran the index past
// the end of the value (std::out_of_range from substr).
TEST(MimeParams, CommentEndingInABackslashIsNotReadPastTheEnd) {
  EXPECT_FALSE(lib::mime::parse_content_type("text(\\"));
  const auto ct = lib::mime::parse_content_type("text/plain; a=b (c\\");
  ASSERT_TRUE(ct);
  EXPECT_EQ(ct->subtype, "plain");
  EXPECT_FALSE(lib::mime::parse_content_type("(\\"));
}

TEST(MimeParams, LanguageAndCharsetOfExtendedValue) {
  const auto ct = lib::mime::parse_content_type("a/b; title*=us-ascii'en-us'x");
  ASSERT_TRUE(ct);
  const auto* p = lib::mime::find_param(ct->params, "TITLE");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->charset, "us-ascii");
  EXPECT_EQ(p->language, "en-us");
  EXPECT_TRUE(p->extended());
  EXPECT_EQ(p->encoded, "us-ascii'en-us'x");

  // Plain continuations are a plain value; encoded ones get one canonical
  // %-encoded form (for IMAP "name*" pass-through).
  const auto plain = lib::mime::parse_content_type("a/b; url*0=\"ftp://a\"; url*1=\"/b c\"");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->params[0].value, "ftp://a/b c");
  EXPECT_FALSE(plain->params[0].extended());
  const auto mixed = lib::mime::parse_content_type("a/b; t*0*=utf-8'de'%C3%A9%20; t*1=\"a'b*c\"");
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->params[0].value, "\xc3\xa9 a'b*c");
  EXPECT_EQ(mixed->params[0].encoded, "utf-8'de'%C3%A9%20a%27b%2Ac");
}

TEST(MimeParams, ParameterCountIsCapped) {
  std::string v = "a/b";
  for (int i = 0; i < 10000; ++i) v += "; p" + std::to_string(i) + "=v";
  const auto ct = lib::mime::parse_content_type(v);
  ASSERT_TRUE(ct);
  EXPECT_EQ(ct->params.size(), 100u);
  std::string cont = "a/b";
  for (int i = 0; i < 10000; ++i) cont += "; n*" + std::to_string(i) + "=x";
  const auto c2 = lib::mime::parse_content_type(cont);
  ASSERT_TRUE(c2);
  ASSERT_EQ(c2->params.size(), 1u);
  EXPECT_LE(c2->params[0].value.size(), 1000u);
}

TEST(MimeParams, Disposition) {
  const auto d = lib::mime::parse_content_disposition("INLINE; filename=\"a b.txt\"; creation-date=\"x\"");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->type, "inline");
  ASSERT_EQ(d->params.size(), 2u);
  EXPECT_EQ(d->params[0].value, "a b.txt");
  EXPECT_FALSE(lib::mime::parse_content_disposition("  ;filename=x").has_value());
}

// ---------------------------------------------------------------------------
// RFC 2047 encoded words
// ---------------------------------------------------------------------------

struct WordCase {
  const char* label;
  std::string input;
  std::string expected;
};

TEST(MimeEncodedWords, DecodeTable) {
  const std::vector<WordCase> cases = {
      {"plain", "hello world", "hello world"},
      {"q", "=?utf-8?q?caf=C3=A9?=", "caf\xc3\xa9"},
      {"q underscore", "=?UTF-8?Q?a_b?=", "a b"},
      {"b", "=?utf-8?b?Y2Fmw6k=?=", "caf\xc3\xa9"},
      {"b no padding", "=?utf-8?B?Y2Fmw6k?=", "caf\xc3\xa9"},
      {"iso-8859-1", "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard"},
      {"rfc 2047 example", "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld J\xc3\xb8rn Simonsen"},
      {"adjacent joined", "=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
      {"adjacent folded", "=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"},
      {"space inside word kept", "=?utf-8?q?a_?= =?utf-8?q?_b?=", "a  b"},
      {"text between words kept", "=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"},
      {"split utf-8 char", "=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "\xc3\xa9"},
      {"split across b words", "=?utf-8?b?w6k=?==?utf-8?b?w6k=?=", "\xc3\xa9\xc3\xa9"},
      {"different charsets", "=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=", "\xc3\xa9\xc3\xa9"},
      {"language suffix", "=?utf-8*en?q?hi?=", "hi"},
      {"unknown charset left", "=?x-unknown-cs?q?abc?= rest", "=?x-unknown-cs?q?abc?= rest"},
      {"bad charset name left", "=?a//TRANSLIT?q?abc?=", "=?a//TRANSLIT?q?abc?="},
      {"invalid base64 left", "=?utf-8?b?!!!!?=", "=?utf-8?b?!!!!?="},
      {"bad encoding letter", "=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
      {"unterminated", "=?utf-8?q?abc", "=?utf-8?q?abc"},
      {"in middle of word", "foo=?utf-8?q?bar?=baz", "foobarbaz"},
      {"trailing space kept", "=?utf-8?q?a?=  ", "a  "},
      {"empty payload", "=?utf-8?q?" "?=", ""},
      {"crlf nul injection", "=?utf-8?q?a=0D=0Ab=00c?=", "a  b c"},
      {"invalid utf-8 replaced", "=?utf-8?q?=FF?=", "\xef\xbf\xbd"},
      {"stray equals in q", "=?utf-8?q?a=zz?=", "a=zz"},
      {"iso-2022-jp", "=?ISO-2022-JP?B?GyRCJEgkYhsoQg==?=", "\xe3\x81\xa8\xe3\x82\x82"},
      {"windows-1252 quote", "=?windows-1252?q?=93hi=94?=", "\xe2\x80\x9chi\xe2\x80\x9d"},
      {"us-ascii with utf-8 bytes", "=?us-ascii?q?caf=C3=A9?=", "caf\xc3\xa9"},
      {"lonely =?", "a =? b ?= c", "a =? b ?= c"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(lib::mime::decode_encoded_words(c.input), c.expected);
  }
}

TEST(MimeEncodedWords, EncodeRoundTripAndLimits) {
  const std::vector<std::string> inputs = {
      "plain ascii",
      "caf\xc3\xa9",
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe4\xbb\xb6\xe5\x90\x8d",
      "mostly ascii with one \xc3\xa9 in a long long long long long long long long long long sentence",
      std::string(200, 'x') + "\xc3\xa9",
      "=?looks encoded?=",
      "tab\there",
      "under_score and = equals and ? question",
      "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
      "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
      "",
  };
  for (const auto& in : inputs) {
    SCOPED_TRACE(in);
    const std::string enc = lib::mime::encode_encoded_words(in, "\r\n ");
    EXPECT_EQ(lib::mime::decode_encoded_words(enc), in);
    std::size_t start = 0;
    while (start <= enc.size()) {
      std::size_t end = enc.find("\r\n ", start);
      if (end == std::string::npos) end = enc.size();
      const std::string_view word(enc.data() + start, end - start);
      if (word.substr(0, 2) == "=?") {
        EXPECT_LE(word.size(), 75u);
      }
      for (char ch : word) EXPECT_TRUE(ch == '\t' || (static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f));
      start = end + 3;
    }
  }
  EXPECT_EQ(lib::mime::encode_encoded_words("plain ascii"), "plain ascii");
  EXPECT_EQ(lib::mime::encode_encoded_words("caf\xc3\xa9 au lait"), "=?UTF-8?Q?caf=C3=A9_au_lait?=");
  EXPECT_EQ(lib::mime::encode_encoded_words("\xe6\x97\xa5\xe6\x9c\xac"), "=?UTF-8?B?5pel5pys?=");
}

// ---------------------------------------------------------------------------
// Transfer encodings
// ---------------------------------------------------------------------------

struct DecodeCase {
  const char* label;
  std::string input;
  std::string expected;
  bool errors;
};

TEST(MimeTransfer, Base64Table) {
  const std::vector<DecodeCase> cases = {
      {"empty", "", "", false},
      {"one", "YQ==", "a", false},
      {"two", "YWI=", "ab", false},
      {"three", "YWJj", "abc", false},
      {"lines", "YW\r\nJj\nZA==\r\n", "abcd", false},
      {"no padding", "YWJjZA", "abcd", false},
      {"invalid chars skipped", "YW*Jj", "abc", true},
      {"dangling char", "YWJjZ", "abc", true},
      {"stray pad", "=YWJj", "abc", true},
      {"concatenated runs", "YQ==YQ==", "aa", false},
      {"extra padding", "YQ====", "a", false},
      {"binary", "AP8=", std::string("\0\xff", 2), false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto d = lib::mime::decode_base64(c.input);
    EXPECT_EQ(d.data, c.expected);
    EXPECT_EQ(d.errors != 0, c.errors);
  }
}

TEST(MimeTransfer, QuotedPrintableTable) {
  const std::vector<DecodeCase> cases = {
      {"plain", "abc", "abc", false},
      {"hex", "caf=C3=A9", "caf\xc3\xa9", false},
      {"lower hex", "caf=c3=a9", "caf\xc3\xa9", false},
      {"soft break crlf", "abc=\r\ndef\r\n", "abcdef\r\n", false},
      {"soft break lf", "abc=\ndef", "abcdef", false},
      {"soft break with padding", "abc=  \r\ndef", "abcdef", false},
      {"trailing space removed", "abc   \r\ndef", "abc\r\ndef", false},
      {"encoded trailing space kept", "abc=20\r\n", "abc \r\n", false},
      {"bad hex kept", "a=ZZb", "a=ZZb", true},
      {"equals at end of text", "a=", "a", false},
      {"truncated escape", "a=4", "a=4", true},
      {"lines kept lf", "a\nb\n", "a\nb\n", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto d = lib::mime::decode_quoted_printable(c.input);
    EXPECT_EQ(d.data, c.expected);
    EXPECT_EQ(d.errors != 0, c.errors);
  }
}

TEST(MimeTransfer, Base64EncodeRoundTrip) {
  EXPECT_EQ(lib::mime::encode_base64("", 76), "");
  EXPECT_EQ(lib::mime::encode_base64("a", 76), "YQ==");
  EXPECT_EQ(lib::mime::encode_base64("abcd", 4, "\n"), "YWJj\nZA==");
  std::string all;
  for (int i = 0; i < 1000; ++i) all += static_cast<char>(i * 7 % 256);
  const std::string enc = lib::mime::encode_base64(all);
  std::size_t start = 0;
  while (start < enc.size()) {
    std::size_t end = enc.find("\r\n", start);
    if (end == std::string::npos) end = enc.size();
    EXPECT_LE(end - start, 76u);
    start = end + 2;
  }
  const auto d = lib::mime::decode_base64(enc);
  EXPECT_EQ(d.data, all);
  EXPECT_EQ(d.errors, 0u);
}

TEST(MimeTransfer, Base64StrictTable) {
  using lib::mime::StrictBase64;
  struct Case {
    const char* label;
    std::string input;
    std::size_t max;
    StrictBase64 result;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"empty", "", 10, StrictBase64::ok, ""},
      {"one", "YQ==", 10, StrictBase64::ok, "a"},
      {"two", "YWI=", 10, StrictBase64::ok, "ab"},
      {"three", "YWJj", 10, StrictBase64::ok, "abc"},
      {"binary", "AP8=", 10, StrictBase64::ok, std::string("\0\xff", 2)},
      {"exactly the limit", "YWJj", 3, StrictBase64::ok, "abc"},
      {"over the limit", "YWJjZA==", 3, StrictBase64::too_long, ""},
      {"huge text refused before reading", std::string(4000, '!'), 3, StrictBase64::too_long, ""},
      {"white space", "YW Jj", 10, StrictBase64::invalid, ""},
      {"line break", "YWJj\r\n", 10, StrictBase64::invalid, ""},
      {"no padding", "YWJjZA", 10, StrictBase64::invalid, ""},
      {"three pads", "Y===", 10, StrictBase64::invalid, ""},
      {"pad inside", "YQ==YQ==", 10, StrictBase64::invalid, ""},
      {"bad character", "YW*j", 10, StrictBase64::invalid, ""},
      {"non-zero pad bits", "YR==", 10, StrictBase64::invalid, ""},
      {"non-zero pad bits, one pad", "YWJ=", 10, StrictBase64::invalid, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    std::string out = "left over";
    EXPECT_EQ(lib::mime::decode_base64_strict(c.input, c.max, out), c.result);
    if (c.result == StrictBase64::ok) {
      EXPECT_EQ(out, c.expected);
    }
  }
  // Everything the encoder writes is accepted and gives the bytes back.
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    std::string out;
    ASSERT_EQ(lib::mime::decode_base64_strict(lib::mime::encode_base64(all.substr(0, n), 0), n, out),
              StrictBase64::ok);
    EXPECT_EQ(out, all.substr(0, n));
  }
}

TEST(MimeTransfer, TextUtf8) {
  const std::string msg =
      "Content-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 cr=E8me\n"
      "--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nw6l0w6k=\n"
      "--b\nContent-Type: text/plain; charset=x-nonsense\nContent-Transfer-Encoding: 8bit\n\nraw \xc3\xa9 \xff\n"
      "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n\x93quoted\x94\n"
      "--b\nContent-Type: text/plain; charset=\"koi8-r\"\nContent-Transfer-Encoding: 8bit\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n"
      "--b--\n";
  const Message m = lib::mime::parse(msg);
  ASSERT_EQ(m.root.children.size(), 5u);
  EXPECT_EQ(lib::mime::text_utf8(msg, m.root.children[0]), "Caf\xc3\xa9 cr\xc3\xa8me");
  EXPECT_EQ(lib::mime::text_utf8(msg, m.root.children[1]), "\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(lib::mime::text_utf8(msg, m.root.children[2]), "raw \xc3\xa9 \xef\xbf\xbd");
  EXPECT_EQ(lib::mime::text_utf8(msg, m.root.children[3]), "\xe2\x80\x9cquoted\xe2\x80\x9d");
  EXPECT_EQ(lib::mime::text_utf8(msg, m.root.children[4]),
            "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
}

// ---------------------------------------------------------------------------
// Charsets
// ---------------------------------------------------------------------------

TEST(MimeCharset, Table) {
  const struct {
    const char* label;
    std::string bytes, charset;
    std::optional<std::string> expected;
  } cases[] = {
      {"utf-8", "caf\xc3\xa9", "UTF-8", "caf\xc3\xa9"},
      {"utf-8 invalid", "a\xff\xc3", "utf-8", "a\xef\xbf\xbd\xef\xbf\xbd"},
      {"utf-8 overlong", "\xc0\xaf", "utf-8", "\xef\xbf\xbd\xef\xbf\xbd"},
      {"utf-8 surrogate", "\xed\xa0\x80", "utf-8", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"latin-1 label", "\xe9\x80", "ISO-8859-1", "\xc3\xa9\xe2\x82\xac"},
      {"iso-8859-15", "\xa4", "iso-8859-15", "\xe2\x82\xac"},
      {"quoted label", "\xe9", "\"iso-8859-1\"", "\xc3\xa9"},
      {"ascii with utf-8", "caf\xc3\xa9", "us-ascii", "caf\xc3\xa9"},
      {"ascii with cp1252", "caf\xe9", "us-ascii", "caf\xc3\xa9"},
      {"ks_c_5601-1987", "\xc7\xd1", "ks_c_5601-1987", "\xed\x95\x9c"},
      {"gb2312", "\xc4\xe3", "gb2312", "\xe4\xbd\xa0"},
      {"shift_jis", "\x82\xa0", "Shift_JIS", "\xe3\x81\x82"},
      {"utf-16le", std::string("a\0", 2), "utf-16le", "a"},
      {"incomplete at end", "\x82", "shift_jis", "\xef\xbf\xbd"},
      {"unknown", "x", "x-klingon", std::nullopt},
      {"unknown-8bit", "x", "unknown-8bit", std::nullopt},
      {"suffix injection", "x", "utf-8//TRANSLIT", std::nullopt},
      {"comma injection", "x", "latin1,ignore", std::nullopt},
      {"empty", "x", "", std::nullopt},
      {"too long", "x", std::string(100, 'a'), std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(lib::mime::to_utf8(c.bytes, c.charset), c.expected);
    EXPECT_EQ(lib::mime::known_charset(c.charset), c.expected.has_value());
  }
  EXPECT_TRUE(lib::mime::valid_utf8("caf\xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(lib::mime::valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(lib::mime::sanitize_utf8("ok\xe2\x82"), "ok\xef\xbf\xbd");
}

TEST(MimeCharset, ManyCharsetsThroughTheCache) {
  // More distinct charsets than cache entries, twice over: evictions must
  // close and reopen descriptors correctly.
  const char* sets[] = {"iso-8859-2", "iso-8859-5", "iso-8859-7", "koi8-r", "windows-1251", "windows-1250",
                        "iso-8859-9", "iso-8859-15", "cp850", "macintosh", "iso-8859-4", "utf-16be"};
  for (int round = 0; round < 2; ++round) {
    for (const char* cs : sets) {
      SCOPED_TRACE(cs);
      const auto r = lib::mime::to_utf8(std::string_view(cs == std::string("utf-16be") ? std::string("\0A", 2) : "A"), cs);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(*r, "A");
    }
  }
}

}  // namespace
