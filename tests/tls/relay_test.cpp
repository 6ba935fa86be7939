// tests/tls/relay_test.cpp: real handshakes in one process (an OpenSSL
// client on one end of a socketpair, our server context and relay on the
// other): data both ways, half-close in both directions, SNI, client
// certificates and the environment they give, ALPN, hostile clients.
#include <gtest/gtest.h>
#include <csignal>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <thread>

#include "tests/lib/test_util.hpp"
#include "tests/tls/tls_test_util.hpp"
#include "tls/context.hpp"
#include "tls/relay.hpp"
#include "tls/session.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Writes to a peer that hung up must fail with EPIPE, not kill the test, as
// in couriertls (which ignores SIGPIPE too).
const bool sigpipe_ignored = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();

tls::Settings settings_of(std::map<std::string, std::string> vars) {
  auto s = tls::parse_settings([vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
  if (!s) ADD_FAILURE() << s.error().message;
  return s ? *s : tls::Settings{};
}

struct Identity {
  tls::EvpPkey key;
  tls::X509Ptr cert;
};

Identity make_identity(const tlstest::CertSpec& spec, const Identity* ca = nullptr) {
  Identity id;
  id.key = tlstest::make_rsa_key();
  id.cert = tlstest::make_cert(id.key.get(), spec, ca ? ca->key.get() : nullptr, ca ? ca->cert.get() : nullptr);
  return id;
}

std::string pem_of(const Identity& id) {
  return tlstest::key_pem(id.key.get()) + tlstest::cert_pem(id.cert.get());
}

// A blocking OpenSSL client on fd.
struct Client {
  tls::SslCtx ctx{SSL_CTX_new(TLS_client_method())};
  tls::Ssl ssl;
  explicit Client(int fd, const std::string& sni = {}, const Identity* id = nullptr,
                  const std::string& alpn_wire = {}) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    if (id) {
      SSL_CTX_use_certificate(ctx.get(), id->cert.get());
      SSL_CTX_use_PrivateKey(ctx.get(), id->key.get());
    }
    if (!alpn_wire.empty()) {
      SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(alpn_wire.data()),
                              static_cast<unsigned>(alpn_wire.size()));
    }
    ssl.reset(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), fd);
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  }
  bool connect() { return SSL_connect(ssl.get()) == 1; }
  std::string peer_cn() {
    X509* peer = SSL_get0_peer_certificate(ssl.get());
    if (!peer) return {};
    char buf[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof buf);
    return buf;
  }
  // Reads until close_notify or EOF.
  std::string read_all() {
    std::string out;
    char buf[8192];
    for (;;) {
      int n = SSL_read(ssl.get(), buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  bool write_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      int n = SSL_write(ssl.get(), data.data() + off, static_cast<int>(std::min<size_t>(data.size() - off, 65536)));
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
};

struct Sockets {
  int tls[2];    // [0] server side, [1] client side
  int plain[2];  // [0] relay side, [1] service side
  Sockets() {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, tls) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, plain) != 0) abort();
  }
  ~Sockets() {
    for (int fd : {tls[0], tls[1], plain[0], plain[1]}) close(fd);
  }
};

struct Fixture {
  testutil::TempDir dir;
  Identity server_id = make_identity({.cn = "default.test"});
  std::string certfile;
  Fixture() {
    certfile = dir / "imapd.pem";
    testutil::write_file(certfile, pem_of(server_id));
    ::chmod(certfile.c_str(), 0600);  // a key others can read is refused
  }
};

// Server side: handshake, then relay; the outcome goes to the caller.
struct ServerRun {
  lib::Result<void> handshake = lib::Result<void>();
  tls::ConnectionInfo info;
  lib::Result<tls::RelayResult> relayed = lib::permanent_error("not run");
};

ServerRun serve(const tls::Context& ctx, int fd, int plain, bool do_relay) {
  ServerRun run;
  auto ssl = ctx.new_connection(fd);
  if (!ssl) {
    run.handshake = ssl.error();
    return run;
  }
  EXPECT_TRUE(tls::set_nonblocking(fd));
  run.handshake = tls::handshake(ssl->get(), fd, Clock::now() + std::chrono::seconds(20));
  if (!run.handshake) return run;
  run.info = tls::connection_info(ssl->get());
  if (do_relay) run.relayed = tls::relay(ssl->get(), fd, plain, plain);
  return run;
}

TEST(Relay, DataBothWaysAndClientHalfClose) {
  Fixture f;
  auto ctx = tls::Context::create(settings_of({{"TLS_CERTFILE", f.certfile}}), {});
  ASSERT_TRUE(ctx) << ctx.error().message;
  Sockets s;
  ServerRun run;
  std::thread server([&] { run = serve(*ctx, s.tls[0], s.plain[0], true); });
  // The service: echo everything, and after EOF one last line.
  std::thread service([&] {
    char buf[4096];
    for (;;) {
      ssize_t n = read(s.plain[1], buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(s.plain[1], buf + off, static_cast<size_t>(n - off));
        if (w <= 0) return;
        off += w;
      }
    }
    std::string bye = "bye after EOF\n";
    (void)!write(s.plain[1], bye.data(), bye.size());
    shutdown(s.plain[1], SHUT_WR);
  });
  Client client(s.tls[1]);
  ASSERT_TRUE(client.connect());
  std::string payload;
  for (int i = 0; payload.size() < 1024 * 1024; ++i) payload += "line " + std::to_string(i) + "\n";
  std::thread writer([&] {
    EXPECT_TRUE(client.write_all(payload));
    SSL_shutdown(client.ssl.get());  // close_notify: half-close towards the service
  });
  std::string got = client.read_all();
  writer.join();
  server.join();
  service.join();
  ASSERT_TRUE(run.handshake) << run.handshake.error().message;
  EXPECT_EQ(got, payload + "bye after EOF\n");
  ASSERT_TRUE(run.relayed) << run.relayed.error().message;
  EXPECT_EQ(run.relayed->bytes_from_tls, payload.size());
  EXPECT_EQ(run.relayed->bytes_to_tls, payload.size() + 14);
  EXPECT_EQ(run.info.version, "TLSv1.3");
}

TEST(Relay, ServiceClosesFirst) {
  Fixture f;
  auto ctx = tls::Context::create(settings_of({{"TLS_CERTFILE", f.certfile}, {"TLS_PROTOCOL", "TLSv1.2"}}), {});
  ASSERT_TRUE(ctx);
  Sockets s;
  ServerRun run;
  std::thread server([&] { run = serve(*ctx, s.tls[0], s.plain[0], true); });
  std::string hello = "* OK hello\r\n";
  ASSERT_EQ(write(s.plain[1], hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
  close(s.plain[1]);
  s.plain[1] = -1;
  Client client(s.tls[1]);
  ASSERT_TRUE(client.connect());
  EXPECT_EQ(client.read_all(), hello);
  EXPECT_EQ(SSL_get_shutdown(client.ssl.get()) & SSL_RECEIVED_SHUTDOWN, SSL_RECEIVED_SHUTDOWN);  // close_notify
  server.join();
  ASSERT_TRUE(run.relayed) << run.relayed.error().message;
  EXPECT_EQ(run.relayed->end, "service closed");
}

TEST(Handshake, SniPicksTheCertificate) {
  Fixture f;
  Identity named = make_identity({.cn = "mail.example.test"});
  testutil::write_file(f.certfile + ".mail.example.test", pem_of(named));
  ::chmod((f.certfile + ".mail.example.test").c_str(), 0600);
  auto ctx = tls::Context::create(settings_of({{"TLS_CERTFILE", f.certfile}}), {});
  ASSERT_TRUE(ctx);
  for (auto [sni, cn] : std::map<std::string, std::string>{{"Mail.Example.Test", "mail.example.test"},
                                                           {"other.example.test", "default.test"},
                                                           {"../imapd.pem", "default.test"},
                                                           {"", "default.test"}}) {
    Sockets s;
    ServerRun run;
    std::thread server([&] { run = serve(*ctx, s.tls[0], s.plain[0], false); });
    Client client(s.tls[1], sni);
    bool ok = client.connect();
    server.join();
    ASSERT_TRUE(ok) << sni;
    EXPECT_EQ(client.peer_cn(), cn) << sni;
  }
}

TEST(Handshake, BrokenSniCertificateFailsTheHandshakeOnly) {
  Fixture f;
  testutil::write_file(f.certfile + ".broken.test", "not a pem\n");
  auto ctx = tls::Context::create(settings_of({{"TLS_CERTFILE", f.certfile}}), {});
  ASSERT_TRUE(ctx);
  Sockets s;
  ServerRun run;
  std::thread server([&] { run = serve(*ctx, s.tls[0], s.plain[0], false); });
  Client client(s.tls[1], "broken.test");
  EXPECT_FALSE(client.connect());
  shutdown(s.tls[1], SHUT_RDWR);
  server.join();
  EXPECT_FALSE(run.handshake);
}

TEST(Handshake, ClientCertificateGivesTheSubjectOnlyWhenVerified) {
  Fixture f;
  Identity ca = make_identity({.cn = "Test CA", .ca = true});
  Identity user = make_identity({.cn = "Alice", .email = "alice@example.test"}, &ca);
  Identity stranger = make_identity({.cn = "Mallory", .email = "alice@example.test"});
  testutil::write_file(f.dir / "ca.pem", tlstest::cert_pem(ca.cert.get()));
  struct Case {
    const char* label;
    const char* verify;
    const Identity* id;
    bool handshake_ok;
    bool subject;
  } cases[] = {
      {"PEER with a trusted certificate", "PEER", &user, true, true},
      {"PEER without a certificate", "PEER", nullptr, true, false},
      {"PEER with an untrusted certificate", "PEER", &stranger, false, false},
      {"REQUIREPEER without a certificate", "REQUIREPEER", nullptr, false, false},
      {"NONE ignores the certificate", "NONE", &user, true, false},
  };
  for (const auto& c : cases) {
    auto ctx = tls::Context::create(settings_of({{"TLS_CERTFILE", f.certfile},
                                                 {"TLS_VERIFYPEER", c.verify},
                                                 {"TLS_TRUSTCERTS", f.dir / "ca.pem"}}),
                                    {});
    ASSERT_TRUE(ctx) << c.label << ": " << ctx.error().message;
    Sockets s;
    ServerRun run;
    std::thread server([&] {
      run = serve(*ctx, s.tls[0], s.plain[0], false);
      shutdown(s.tls[0], SHUT_RDWR);  // lets the client's SSL_peek below return
    });
    Client client(s.tls[1], "", c.id);
    bool connected = client.connect();
    if (connected) {
      // TLS 1.3: the server judges the client's certificate after the client's Finished.
      char byte;
      SSL_peek(client.ssl.get(), &byte, 0);
    }
    shutdown(s.tls[1], SHUT_RDWR);
    server.join();
    EXPECT_EQ(static_cast<bool>(run.handshake), c.handshake_ok) << c.label;
    if (!run.handshake) {
      EXPECT_NE(run.handshake.error().message.find("certificate"), std::string::npos)
          << c.label << ": " << run.handshake.error().message;
      continue;
    }
    auto env = tls::tls_environment(run.info);
    std::map<std::string, std::string> vars(env.begin(), env.end());
    EXPECT_EQ(vars.count("TLS_CONNECTED_PROTOCOL"), 1u) << c.label;
    EXPECT_EQ(vars.count("TLS_SUBJECT_CN") == 1, c.subject) << c.label;
    if (c.subject) {
      EXPECT_EQ(vars["TLS_SUBJECT_CN"], "Alice");
      EXPECT_EQ(vars["TLS_SUBJECT_EMAILADDRESS"], "alice@example.test");
      EXPECT_EQ(vars["TLS_SUBJECT_O"], "Test");
    }
  }
}

TEST(Handshake, AlpnChoosesOrRefuses) {
  Fixture f;
  auto ctx = tls::Context::create(settings_of({{"TLS_CERTFILE", f.certfile}, {"TLS_ALPN", "imap"}}), {});
  ASSERT_TRUE(ctx);
  for (auto [offer, ok] : std::map<std::string, bool>{{"\x02h2\x04imap", true}, {"\x02h2", false}, {"", true}}) {
    Sockets s;
    ServerRun run;
    std::thread server([&] { run = serve(*ctx, s.tls[0], s.plain[0], false); });
    Client client(s.tls[1], "", nullptr, offer);
    bool connected = client.connect();
    shutdown(s.tls[1], SHUT_RDWR);
    server.join();
    EXPECT_EQ(connected, ok) << offer.size();
    if (ok && !offer.empty()) {
      EXPECT_EQ(run.info.alpn, "imap");
    }
  }
}

TEST(Handshake, HostileClients) {
  Fixture f;
  auto ctx = tls::Context::create(settings_of({{"TLS_CERTFILE", f.certfile}}), {});
  ASSERT_TRUE(ctx);
  struct Case {
    const char* label;
    std::string bytes;
    const char* error;
  } cases[] = {
      {"HTTP instead of TLS", "GET / HTTP/1.0\r\n\r\n", "not TLS"},
      {"IMAP command", "a1 LOGIN user pass\r\n", "not TLS"},
      {"half a ClientHello, then EOF", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
       "closed the connection during the handshake"},
      {"nothing, then EOF", "", "closed the connection during the handshake"},
  };
  for (const auto& c : cases) {
    Sockets s;
    ServerRun run;
    std::thread server([&] { run = serve(*ctx, s.tls[0], s.plain[0], false); });
    if (!c.bytes.empty()) {
      ASSERT_EQ(write(s.tls[1], c.bytes.data(), c.bytes.size()), static_cast<ssize_t>(c.bytes.size()));
    }
    shutdown(s.tls[1], SHUT_WR);
    server.join();
    ASSERT_FALSE(run.handshake) << c.label;
    EXPECT_NE(run.handshake.error().message.find(c.error), std::string::npos)
        << c.label << ": " << run.handshake.error().message;
  }
}

TEST(Handshake, DeadlineEndsASilentClient) {
  Fixture f;
  auto ctx = tls::Context::create(settings_of({{"TLS_CERTFILE", f.certfile}}), {});
  ASSERT_TRUE(ctx);
  Sockets s;
  auto ssl = ctx->new_connection(s.tls[0]);
  ASSERT_TRUE(ssl);
  ASSERT_TRUE(tls::set_nonblocking(s.tls[0]));
  auto r = tls::handshake(ssl->get(), s.tls[0], Clock::now());  // already passed
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos);
}

TEST(Session, AcceptableVariables) {
  EXPECT_TRUE(tls::acceptable_tls_variable("TLS_CONNECTED_PROTOCOL", "TLSv1.3,256bits,X"));
  EXPECT_TRUE(tls::acceptable_tls_variable("TLS_SUBJECT_CN", "Alice Ü"));
  EXPECT_FALSE(tls::acceptable_tls_variable("PATH", "/tmp"));
  EXPECT_FALSE(tls::acceptable_tls_variable("TLS_SUBJECT_", "x"));
  EXPECT_FALSE(tls::acceptable_tls_variable("TLS_SUBJECT_cn", "x"));
  EXPECT_FALSE(tls::acceptable_tls_variable("TLS_SUBJECT_CN", "a\nLD_PRELOAD=x"));
  EXPECT_FALSE(tls::acceptable_tls_variable("TLS_SUBJECT_CN", std::string(2000, 'a')));
}

}  // namespace
