// tests/tls/context_test.cpp: building a server context from Courier's
// settings; every load failure names the file, what is wrong and the fix.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <sys/stat.h>

#include <cstdio>
#include <map>

#include "tests/lib/test_util.hpp"
#include "tests/tls/tls_test_util.hpp"
#include "tls/context.hpp"

namespace {

tls::Settings settings_of(std::map<std::string, std::string> vars) {
  auto s = tls::parse_settings([vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
  if (!s) ADD_FAILURE() << s.error().message;
  return s ? *s : tls::Settings{};
}

struct Pair {
  tls::EvpPkey key;
  tls::X509Ptr cert;
  std::string pem() const { return tlstest::key_pem(key.get()) + tlstest::cert_pem(cert.get()); }
};

Pair make_pair(tlstest::CertSpec spec = {}, int bits = 2048) {
  Pair p;
  p.key = tlstest::make_rsa_key(bits);
  p.cert = tlstest::make_cert(p.key.get(), spec);
  return p;
}

const Pair& good() {
  static Pair p = make_pair();
  return p;
}

std::string write(const testutil::TempDir& dir, const std::string& name, const std::string& text,
                  mode_t mode = 0600) {
  testutil::write_file(dir / name, text);
  chmod((dir / name).c_str(), mode);
  return dir / name;
}

lib::Result<tls::Context> server(std::map<std::string, std::string> vars) {
  return tls::Context::create(settings_of(std::move(vars)), {});
}

TEST(Context, GoodCertificateLoads) {
  testutil::TempDir dir;
  auto ctx = server({{"TLS_CERTFILE", write(dir, "imapd.pem", good().pem())}});
  ASSERT_TRUE(ctx) << ctx.error().message;
  EXPECT_NE(ctx->get(), nullptr);
  EXPECT_TRUE(ctx->warnings().empty());
}

TEST(Context, SeparateKeyFileAndCrlf) {
  testutil::TempDir dir;
  std::string cert = tlstest::cert_pem(good().cert.get());
  std::string key = tlstest::key_pem(good().key.get());
  std::string crlf_key;
  for (char c : key) {
    if (c == '\n') crlf_key += '\r';
    crlf_key += c;
  }
  auto ctx = server({{"TLS_CERTFILE", write(dir, "cert.pem", cert)},
                     {"TLS_PRIVATE_KEYFILE", write(dir, "key.pem", crlf_key)}});
  ASSERT_TRUE(ctx) << ctx.error().message;
}

TEST(Context, PerAddressCertificateIsChosen) {
  testutil::TempDir dir;
  std::string base = write(dir, "imapd.pem", good().pem());
  write(dir, "imapd.pem.192.0.2.7", make_pair({.cn = "by-address"}).pem());
  auto ctx = server({{"TLS_CERTFILE", base}, {"TCPLOCALIP", "::ffff:192.0.2.7"}});
  ASSERT_TRUE(ctx) << ctx.error().message;
  EXPECT_EQ(ctx->certificate_path(), base + ".192.0.2.7");
  auto other = server({{"TLS_CERTFILE", base}, {"TCPLOCALIP", "192.0.2.8"}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->certificate_path(), base);
}

TEST(Context, LoadFailuresSayWhatAndHow) {
  testutil::TempDir dir;
  Pair other = make_pair({.cn = "other"});
  Pair expired = make_pair({.not_before_s = -90L * 86400, .not_after_s = -86400});
  Pair weak = make_pair({}, 1024);
  std::string cert_only = tlstest::cert_pem(good().cert.get());
  std::string wrong_key = tlstest::key_pem(other.key.get()) + cert_only;
  std::string weak_dh = tlstest::dh_group_pem("modp_1536");
  struct Case {
    const char* label;
    std::map<std::string, std::string> vars;
    std::vector<std::string> expected;  // substrings of the message
  } cases[] = {
      {"no TLS_CERTFILE", {}, {"TLS_CERTFILE is not set", "mkimapdcert"}},
      {"missing file",
       {{"TLS_CERTFILE", dir / "missing.pem"}},
       {"TLS_CERTFILE=" + (dir / "missing.pem"), "does not exist"}},
      {"not PEM",
       {{"TLS_CERTFILE", write(dir, "garbage.pem", "this is not a certificate\n")}},
       {"garbage.pem", "not a PEM file"}},
      {"certificate without key",
       {{"TLS_CERTFILE", write(dir, "nokey.pem", cert_only)}},
       {"nokey.pem", "holds no private key", "TLS_PRIVATE_KEYFILE"}},
      {"key without certificate",
       {{"TLS_CERTFILE", write(dir, "nocert.pem", tlstest::key_pem(good().key.get()))}},
       {"nocert.pem", "holds no certificate"}},
      {"wrong key",
       {{"TLS_CERTFILE", write(dir, "wrongkey.pem", wrong_key)}},
       {"wrongkey.pem", "does not belong to the certificate", "do not match"}},
      {"expired",
       {{"TLS_CERTFILE", write(dir, "expired.pem", expired.pem())}},
       {"expired.pem", "expired on", "renew it"}},
      {"key too small",
       {{"TLS_CERTFILE", write(dir, "weak.pem", weak.pem())}},
       {"weak.pem", "refuses the certificate", "2048 bits"}},
      {"weak DH file",
       {{"TLS_CERTFILE", write(dir, "ok.pem", good().pem())}, {"TLS_DHPARAMS", write(dir, "dh.pem", weak_dh)}},
       {"TLS_DHPARAMS=" + (dir / "dh.pem"), "1536 bits", "mkdhparams"}},
      {"weak DH inside the certificate file",
       {{"TLS_CERTFILE", write(dir, "withdh.pem", good().pem() + weak_dh)}},
       {"withdh.pem", "1536 bits", "mkdhparams"}},
      {"DH below TLS_MIN_DH_BITS",
       {{"TLS_CERTFILE", write(dir, "ok2.pem", good().pem())},
        {"TLS_DHPARAMS", write(dir, "dh2048.pem", tlstest::dh_group_pem("ffdhe2048"))},
        {"TLS_MIN_DH_BITS", "3072"}},
       {"2048 bits, fewer than the 3072 required"}},
      {"missing DH file",
       {{"TLS_CERTFILE", write(dir, "ok3.pem", good().pem())}, {"TLS_DHPARAMS", dir / "nodh.pem"}},
       {"TLS_DHPARAMS=" + (dir / "nodh.pem"), "does not exist", "mkdhparams"}},
      {"DH file without parameters",
       {{"TLS_CERTFILE", write(dir, "ok4.pem", good().pem())}, {"TLS_DHPARAMS", write(dir, "nodh2.pem", cert_only)}},
       {"holds no DH PARAMETERS block"}},
      {"unknown ciphers",
       {{"TLS_CERTFILE", write(dir, "ok5.pem", good().pem())}, {"TLS_CIPHER_LIST", "NO-SUCH-CIPHER"}},
       {"TLS_CIPHER_LIST=NO-SUCH-CIPHER", "openssl ciphers"}},
      {"missing trust file",
       {{"TLS_CERTFILE", write(dir, "ok6.pem", good().pem())},
        {"TLS_VERIFYPEER", "PEER"},
        {"TLS_TRUSTCERTS", dir / "ca-missing.pem"}},
       {"TLS_TRUSTCERTS=" + (dir / "ca-missing.pem")}},
  };
  for (const auto& c : cases) {
    auto ctx = server(c.vars);
    ASSERT_FALSE(ctx) << c.label;
    for (const auto& text : c.expected) {
      EXPECT_NE(ctx.error().message.find(text), std::string::npos)
          << c.label << ": \"" << text << "\" not in: " << ctx.error().message;
    }
  }
}

TEST(Context, WarningsDoNotStopTheServer) {
  testutil::TempDir dir;
  Pair soon = make_pair({.not_after_s = 3L * 86400});
  auto ctx = server({{"TLS_CERTFILE", write(dir, "soon.pem", soon.pem())},
                     {"TLS_PROTOCOL", "TLSv1"},
                     {"TLS_CACHEFILE", dir / "no/such/dir/cache"}});
  ASSERT_TRUE(ctx) << ctx.error().message;
  std::string all;
  for (const auto& w : ctx->warnings()) all += w + "\n";
  EXPECT_NE(all.find("expires in"), std::string::npos) << all;
  EXPECT_NE(all.find("older than TLS 1.2"), std::string::npos) << all;
  EXPECT_NE(all.find("TLS_CACHEFILE="), std::string::npos) << all;
}

// A private key others can read or write refuses the start (issue 14),
// naming the file, its mode and owner, and the chmod that fixes it.
TEST(Context, KeyOthersCanReadIsRefusedWithTheFix) {
  testutil::TempDir dir;
  for (mode_t mode : {0644, 0640, 0604, 0620}) {
    std::string path = write(dir, "open.pem", good().pem(), mode);
    auto ctx = server({{"TLS_CERTFILE", path}});
    ASSERT_FALSE(ctx) << std::oct << mode;
    char shown[8];
    std::snprintf(shown, sizeof shown, "%04o", static_cast<unsigned>(mode));
    EXPECT_NE(ctx.error().message.find(std::string("mode ") + shown), std::string::npos) << ctx.error().message;
    EXPECT_NE(ctx.error().message.find("chmod 600 " + path), std::string::npos) << ctx.error().message;
  }
  EXPECT_TRUE(server({{"TLS_CERTFILE", write(dir, "closed.pem", good().pem(), 0600)}}));
}

TEST(Context, GoodDhParametersLoad) {
  testutil::TempDir dir;
  auto ctx = server({{"TLS_CERTFILE", write(dir, "ok.pem", good().pem())},
                     {"TLS_DHPARAMS", write(dir, "dh.pem", tlstest::dh_group_pem("ffdhe3072"), 0644)}});
  ASSERT_TRUE(ctx) << ctx.error().message;
}

}  // namespace

namespace {

// A context that serves many connections (couriertcpd's in-process couriertls)
// reads TLS_CACHEFILE again for each: a key another process rotated in is used.
TEST(Context, ReloadTicketKeysPicksUpTheFile) {
  testutil::TempDir dir;
  std::string cache = dir / "couriersslcache";
  auto ctx = server({{"TLS_CERTFILE", write(dir, "imapd.pem", good().pem())}, {"TLS_CACHEFILE", cache}});
  ASSERT_TRUE(ctx) << ctx.error().message;
  auto first = testutil::read_file(cache);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(ctx->reload_ticket_keys(), std::nullopt);
  EXPECT_EQ(testutil::read_file(cache), first);  // no rotation due: the same keys
  // An unusable file (group-readable) is a warning that names it, not a failure.
  chmod(cache.c_str(), 0640);
  auto warning = ctx->reload_ticket_keys();
  ASSERT_TRUE(warning);
  EXPECT_NE(warning->find(cache), std::string::npos) << *warning;
}

}  // namespace

namespace {

// couriertcpd's in-process couriertls warms a context up once (a handshake
// with itself in memory) so its forked processes inherit OpenSSL's fetched
// algorithms: one handshake per protocol version allowed, whatever the
// settings ask of real clients, and the context's own key is left as it was.
TEST(Context, WarmUpHandshakesAtEachVersion) {
  testutil::TempDir dir;
  std::string pem = write(dir, "imapd.pem", good().pem());
  auto ctx = server({{"TLS_CERTFILE", pem}});
  ASSERT_TRUE(ctx) << ctx.error().message;
  EVP_PKEY* key = SSL_CTX_get0_privatekey(ctx->get());
  EXPECT_EQ(ctx->warm_up(), 2);  // TLS 1.3 and TLS 1.2
  EXPECT_EQ(SSL_CTX_get0_privatekey(ctx->get()), key);
  EXPECT_EQ(ERR_peek_error(), 0UL);

  auto only13 = server({{"TLS_CERTFILE", pem}, {"TLS_PROTOCOL", "TLSv1.3"}});
  ASSERT_TRUE(only13) << only13.error().message;
  EXPECT_EQ(only13->warm_up(), 1);

  // Client certificates required, session tickets on: the warm-up client has
  // no certificate and keeps no ticket, and still completes.
  std::string ca = write(dir, "ca.pem", tlstest::cert_pem(good().cert.get()), 0644);
  auto strict = server({{"TLS_CERTFILE", pem}, {"TLS_VERIFYPEER", "REQUIREPEER"}, {"TLS_TRUSTCERTS", ca},
                        {"TLS_CACHEFILE", dir / "couriersslcache"}});
  ASSERT_TRUE(strict) << strict.error().message;
  EXPECT_EQ(strict->warm_up(), 2);
}

}  // namespace
