// tests/tls/pem_test.cpp: PEM normalisation, splitting and decoding
// (tls/pem.hpp), with Windows line ends (seed 002), truncated, damaged and
// hostile files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/test_util.hpp"
#include "tests/tls/tls_test_util.hpp"
#include "tls/pem.hpp"

namespace {

std::string crlf(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

struct Material {
  tls::EvpPkey key = tlstest::make_rsa_key();
  tls::X509Ptr cert = tlstest::make_cert(key.get(), {});
  std::string key_text = tlstest::key_pem(key.get());
  std::string cert_text = tlstest::cert_pem(cert.get());
};

Material& material() {
  static Material m;
  return m;
}

TEST(NormalizePem, Table) {
  struct Case {
    const char* label;
    std::string in;
    std::string out;
  } cases[] = {
      {"CRLF", "a\r\nb\r\n", "a\nb\n"},
      {"lone CR (old Mac)", "a\rb\r", "a\nb\n"},
      {"BOM removed", "\xEF\xBB\xBF" "a\n", "a\n"},
      {"two BOMs removed (fuzz finding)", "\xEF\xBB\xBF\xEF\xBB\xBF" "a\n", "a\n"},
      {"trailing blanks", "-----END X----- \t\nb  \n", "-----END X-----\nb\n"},
      {"missing final newline", "a", "a\n"},
      {"empty", "", ""},
      {"mixed", "a\r\n\r\nb\n\rc", "a\n\nb\n\nc\n"},
  };
  for (const auto& c : cases) EXPECT_EQ(tls::normalize_pem_text(c.in), c.out) << c.label;
}

TEST(SplitPem, GoodFileWithNoiseAndHeaders) {
  std::string text =
      "Bag Attributes\n    localKeyID: 01\n"
      "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"
      "subject=/CN=x\n"
      "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nQUJD\n"
      "-----END RSA PRIVATE KEY-----\n";
  auto blocks = tls::split_pem(text, "f.pem");
  ASSERT_TRUE(blocks) << blocks.error().message;
  ASSERT_EQ(blocks->size(), 2u);
  EXPECT_EQ((*blocks)[0].label, "CERTIFICATE");
  EXPECT_EQ((*blocks)[0].line, 3);
  EXPECT_FALSE((*blocks)[0].encrypted);
  EXPECT_EQ((*blocks)[1].label, "RSA PRIVATE KEY");
  EXPECT_TRUE((*blocks)[1].encrypted);
}

TEST(SplitPem, Errors) {
  std::string many;
  for (size_t i = 0; i <= tls::max_pem_blocks; ++i) many += "-----BEGIN X-----\nQQ==\n-----END X-----\n";
  struct Case {
    const char* label;
    std::string text;
    const char* error;
  } cases[] = {
      {"truncated", "-----BEGIN CERTIFICATE-----\nQUJD\n", "f.pem:1: the CERTIFICATE block has no -----END"},
      {"end without begin", "QUJD\n-----END CERTIFICATE-----\n", "f.pem:2:"},
      {"mismatched end", "-----BEGIN CERTIFICATE-----\n-----END PRIVATE KEY-----\n", "ends the CERTIFICATE block"},
      {"nested begin", "-----BEGIN A-----\n-----BEGIN B-----\n-----END B-----\n", "inside the A block"},
      {"no blocks", "hello\n", "not a PEM file"},
      {"empty", "", "not a PEM file"},
      {"DER hint", std::string("\x30\x82\x01\x0a", 4), "binary DER"},
      {"too many blocks", many, "more than 64 PEM blocks"},
      {"NUL inside", std::string("-----BEGIN A-----\nQ\0Q\n-----END A-----\n", 36), "NUL byte"},
  };
  for (const auto& c : cases) {
    auto r = tls::split_pem(c.text, "f.pem");
    ASSERT_FALSE(r) << c.label;
    EXPECT_NE(r.error().message.find(c.error), std::string::npos) << c.label << ": " << r.error().message;
  }
}

TEST(DecodePem, KeyAndCertificateInOneFileWithCrlf) {
  auto& m = material();
  // Seed 002: a PEM saved with Windows line ends must load.
  std::string text = tls::normalize_pem_text(crlf(m.key_text + m.cert_text));
  auto c = tls::decode_pem(text, "esmtpd.pem");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->certificates.size(), 1u);
  ASSERT_TRUE(c->private_key);
  EXPECT_EQ(X509_check_private_key(c->certificates[0].get(), c->private_key.get()), 1);
}

EVP_PKEY* generate(const char* type) {
  EVP_PKEY* key = nullptr;
  lib::CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (ctx && EVP_PKEY_keygen_init(ctx.get()) == 1) EVP_PKEY_generate(ctx.get(), &key);
  return key;
}

// "PRIVATE KEY" (PKCS#8) blocks are decoded for the key type their algorithm
// names; every type a certificate may use must still load, and keep its type.
TEST(DecodePem, Pkcs8KeysOfEveryTypeDecode) {
  for (const char* type : {"RSA", "EC", "ED25519", "RSA-PSS"}) {
    std::string_view t(type);
    tls::EvpPkey key(t == "RSA"  ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                     : t == "EC" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                 : generate(type));
    ASSERT_TRUE(key) << type;
    std::string text = tlstest::key_pem(key.get());
    ASSERT_NE(text.find("-----BEGIN PRIVATE KEY-----"), std::string::npos) << type;
    auto c = tls::decode_pem(text, "key.pem");
    ASSERT_TRUE(c) << type << ": " << c.error().message;
    ASSERT_TRUE(c->private_key) << type;
    EXPECT_TRUE(EVP_PKEY_is_a(c->private_key.get(), type)) << type;
    EXPECT_EQ(EVP_PKEY_eq(c->private_key.get(), key.get()), 1) << type;
  }
}

TEST(DecodePem, DhParametersAndIgnoredBlocks) {
  std::string text = tlstest::dh_group_pem("ffdhe2048") +
                     "-----BEGIN CERTIFICATE REQUEST-----\nQUJD\n-----END CERTIFICATE REQUEST-----\n";
  auto c = tls::decode_pem(text, "dh.pem");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->dh_params);
  EXPECT_EQ(EVP_PKEY_get_bits(c->dh_params.get()), 2048);
  EXPECT_TRUE(c->certificates.empty());
}

TEST(DecodePem, Errors) {
  auto& m = material();
  std::string damaged_cert = m.cert_text;
  damaged_cert[40] = damaged_cert[40] == 'A' ? 'B' : 'A';
  damaged_cert[41] = '*';
  struct Case {
    const char* label;
    std::string text;
    const char* error;
  } cases[] = {
      {"encrypted key",
       "-----BEGIN ENCRYPTED PRIVATE KEY-----\nQUJD\n-----END ENCRYPTED PRIVATE KEY-----\n",
       "encrypted with a pass phrase"},
      {"legacy encrypted key",
       "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nQUJD\n-----END RSA PRIVATE KEY-----\n",
       "encrypted with a pass phrase"},
      {"two keys", m.key_text + m.key_text, "a second private key"},
      {"damaged certificate", damaged_cert, "cannot be decoded"},
      {"garbage key", "-----BEGIN PRIVATE KEY-----\nnot base64 !!\n-----END PRIVATE KEY-----\n", "cannot be decoded"},
  };
  for (const auto& c : cases) {
    auto r = tls::decode_pem(c.text, "x.pem");
    ASSERT_FALSE(r) << c.label;
    EXPECT_NE(r.error().message.find(c.error), std::string::npos) << c.label << ": " << r.error().message;
    EXPECT_NE(r.error().message.find("x.pem"), std::string::npos) << c.label;
  }
}

TEST(LoadPemFile, FileErrorsNameTheFileAndTheFix) {
  testutil::TempDir dir;
  auto missing = tls::load_pem_file(dir / "nope.pem", "TLS_CERTFILE");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("TLS_CERTFILE=" + (dir / "nope.pem") + ": the file does not exist"),
            std::string::npos);
  EXPECT_NE(missing.error().message.find("mkimapdcert"), std::string::npos);

  auto directory = tls::load_pem_file(dir.path(), "TLS_CERTFILE");
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message.find("is a directory"), std::string::npos);

  testutil::write_file(dir / "empty.pem", "");
  auto empty = tls::load_pem_file(dir / "empty.pem", "TLS_CERTFILE");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("the file is empty"), std::string::npos);

  testutil::write_file(dir / "big.pem", std::string(tls::max_pem_file_bytes + 1, 'A'));
  EXPECT_FALSE(tls::load_pem_file(dir / "big.pem", "TLS_CERTFILE"));

  if (geteuid() != 0) {  // root reads anything: the check cannot fail then
    testutil::write_file(dir / "secret.pem", material().cert_text);
    chmod((dir / "secret.pem").c_str(), 0);
    auto denied = tls::load_pem_file(dir / "secret.pem", "TLS_CERTFILE");
    ASSERT_FALSE(denied);
    EXPECT_NE(denied.error().message.find("permission denied"), std::string::npos);
  }

  testutil::write_file(dir / "crlf.pem", crlf(material().key_text + material().cert_text));
  auto ok = tls::load_pem_file(dir / "crlf.pem", "TLS_CERTFILE");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->certificates.size(), 1u);
}

}  // namespace
