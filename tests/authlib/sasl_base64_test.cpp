// tests/authlib/sasl_base64_test.cpp: authlib::sasl's base64, plain code since
// issue 16 (sasl.cpp links no OpenSSL), agrees with OpenSSL's EVP_EncodeBlock
// and EVP_DecodeBlock, which it replaced, on every length and byte.
#include <openssl/evp.h>

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "authlib/sasl.hpp"

namespace {

std::string openssl_encode(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

TEST(SaslBase64, AgreesWithOpenSslOnEveryLengthUpTo300) {
  std::mt19937 rng(16);
  for (size_t len = 0; len <= 300; ++len) {
    std::string bytes(len, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    std::string encoded = authlib::sasl::encode_base64(bytes);
    ASSERT_EQ(encoded, openssl_encode(bytes)) << "length " << len;
    auto decoded = authlib::sasl::decode_base64(encoded);
    ASSERT_TRUE(decoded) << "length " << len;
    ASSERT_EQ(decoded.value(), bytes) << "length " << len;
    auto secret = authlib::sasl::decode_base64_secret(encoded);
    ASSERT_TRUE(secret);
    ASSERT_TRUE(secret.value().equals(bytes));
  }
}

TEST(SaslBase64, StillRefusesWhatItRefused) {
  for (const char* bad : {"QQ", "QQ=", "Q===", "QR==", "QUI=x", "QU I=", "QUJ=", "Q\x01==", "====", "QUJD\n"}) {
    EXPECT_FALSE(authlib::sasl::decode_base64(bad)) << bad;
  }
  EXPECT_EQ(authlib::sasl::decode_base64("QUJD").value(), "ABC");
  EXPECT_EQ(authlib::sasl::decode_base64("QUI=").value(), "AB");
  EXPECT_EQ(authlib::sasl::decode_base64("QQ==").value(), "A");
  EXPECT_FALSE(authlib::sasl::decode_base64("QUJDREVG", 5));  // 6 bytes, at most 5
}

}  // namespace
