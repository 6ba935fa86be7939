// tls/context.hpp: a TLS context (SSL_CTX) built from Courier's settings
// (settings.hpp): protocol range, ciphers, certificate and key, DH parameters,
// client certificates, ALPN, session tickets, and Courier's certificate
// selection:
//   1. at start: $TLS_CERTFILE.<TCPLOCALIP> if that file is readable (its key:
//      $TLS_PRIVATE_KEYFILE.<TCPLOCALIP> if readable, else inside that file),
//      otherwise $TLS_CERTFILE (key: $TLS_PRIVATE_KEYFILE, else inside it);
//   2. during the handshake, when the client sends SNI (RFC 6066 section 3) and
//      $TLS_CERTFILE.<servername> is readable, that certificate replaces it
//      (key: $TLS_PRIVATE_KEYFILE.<servername> if readable, else inside it).
// Every file is loaded and checked when the context is made, so a wrong file
// fails at start-up with a message that names it, says what is wrong and how
// to fix it; only a per-name (SNI) file is loaded during a handshake.
//
// Deviation from Courier (safer): a server checks client certificates against
// TLS_TRUSTCERTS only, never against the system's public CAs, since a verified
// certificate's subject may log the client in (SASL EXTERNAL).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/result.hpp"
#include "tls/openssl_handles.hpp"
#include "tls/settings.hpp"

namespace tls {

enum class Role { server, client };

struct ContextOptions {
  Role role = Role::server;
  // Client: the name the server's certificate must carry (couriertls -verify),
  // also sent as SNI. Empty: no name check.
  std::string verify_domain;
  // Client: the SNI name to send when verify_domain is empty (e.g. -host).
  std::string servername;
  // When the certificate's end date is closer than this, a warning is added.
  int expiry_warning_days = 14;
};

class Context {
 public:
  // Builds the context and loads every file the settings name. Errors are
  // permanent and written for the admin (see pem.hpp for the file errors):
  // no TLS_CERTFILE for a server, no certificate or key in the file, key and
  // certificate that do not match, an expired certificate, a key OpenSSL finds
  // too weak, DH parameters under TLS_MIN_DH_BITS (at least 2048: run
  // mkdhparams), a TLS_CIPHER_LIST OpenSSL does not understand, an unreadable
  // TLS_TRUSTCERTS. A TLS_CACHEFILE that cannot be used is only a warning.
  static lib::Result<Context> create(const Settings& settings, const ContextOptions& options);

  Context(Context&&) noexcept;
  Context& operator=(Context&&) noexcept;
  ~Context();

  SSL_CTX* get() const;
  // Things the admin should fix that do not stop the server: the settings'
  // warnings, a certificate close to its end date, a world-readable key, an
  // unusable TLS_CACHEFILE.
  const std::vector<std::string>& warnings() const;
  // The certificate file the context serves before any SNI (after the
  // TCPLOCALIP choice).
  const std::string& certificate_path() const;

  // A new connection object on fd, in server or client state. The SSL refers to
  // this context, which must outlive it.
  lib::Result<Ssl> new_connection(int fd) const;

  // Reads TLS_CACHEFILE's ticket keys again (creating or rotating them as
  // ticket_keys.hpp says), for a context that serves more than one connection
  // (tcpd/tls_inprocess.hpp). Returns the warning text when the file cannot be
  // used (tickets then stay off), nothing otherwise or without TLS_CACHEFILE.
  std::optional<std::string> reload_ticket_keys();

  // For a context that serves many forked processes (tcpd/tls_inprocess.hpp):
  // runs a full handshake at each protocol version the settings allow (TLS 1.3
  // and 1.2 at most) between this context and a client in the same process,
  // in memory, so that OpenSSL's lazily filled state (the algorithm
  // implementations fetched from the providers, the key exchange, signature,
  // HKDF, cipher and MAC code paths and their tables) is made once here and
  // inherited, instead of again in every connection's process. The
  // certificate's private key is not used: a copy of it signs, so no RSA
  // blinding value is made here that all forked processes would share (each
  // makes its own at its first signature, from its own random state). Nothing
  // else of the context changes; client certificates are not asked for.
  // Returns how many handshakes completed; a failure costs only the speed-up.
  int warm_up() const;

  struct State;

 private:
  explicit Context(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Whether the certificate's end date has passed; `when` receives the date as
// text ("Jan  2 03:04:05 2030 GMT").
bool certificate_expired(X509* cert, std::string* when);
// Days until the certificate's end date (negative once it has passed).
int certificate_days_left(X509* cert);

}  // namespace tls
