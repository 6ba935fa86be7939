// tests/imapd/binary_append_test.cpp: encode_binary_parts (RFC 3516 APPEND):
// binary leaf parts become base64 that decodes to the exact bytes, in a
// single-part message and inside a multipart; other parts stay as they are.
#include "imapd/binary_append.hpp"

#include <gtest/gtest.h>

#include <string>

#include "lib/mime.hpp"

namespace imapd {
namespace {

using namespace std::string_literals;

TEST(EncodeBinaryParts, SinglePart) {
  std::string body = "\0-\xe4\n\r\n\n"s;
  std::string msg = "From: a@b\r\nContent-Transfer-Encoding: binary\r\nX-Other: y\r\n\r\n" + body;
  std::string out = encode_binary_parts(msg);
  EXPECT_EQ(out.find('\0'), std::string::npos);
  EXPECT_NE(out.find("Content-Transfer-Encoding: base64\r\nX-Other: y\r\n\r\n"), std::string::npos) << out;
  auto parsed = lib::mime::parse(out);
  EXPECT_EQ(parsed.root.encoding, lib::mime::TransferEncoding::base64);
  EXPECT_EQ(lib::mime::decode_body(out, parsed.root).data, body);
}

TEST(EncodeBinaryParts, InsideMultipart) {
  std::string bin = "a\rb\nc\0"s;
  std::string msg = "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\n"
                    "text\r\n--x\r\nContent-Transfer-Encoding: BINARY\r\n\r\n" + bin + "\r\n--x--\r\n";
  std::string out = encode_binary_parts(msg);
  auto parsed = lib::mime::parse(out);
  ASSERT_EQ(parsed.root.children.size(), 2u);
  EXPECT_EQ(lib::mime::decode_body(out, parsed.root.children[0]).data, "text");
  EXPECT_EQ(parsed.root.children[1].encoding, lib::mime::TransferEncoding::base64);
  EXPECT_EQ(lib::mime::decode_body(out, parsed.root.children[1]).data, bin);
}

TEST(EncodeBinaryParts, NothingBinaryIsUnchanged) {
  std::string msg = "Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xe4\r\n";
  EXPECT_EQ(encode_binary_parts(msg), msg);
}

}  // namespace
}  // namespace imapd
