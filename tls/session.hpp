// tls/session.hpp: one TLS connection after its context is made: the
// handshake with a deadline, and what the handshake established, in the forms
// Courier passes it on (couriertls(1); courier-libs tcpd/starttls.c):
//   TLS_CONNECTED_PROTOCOL=TLSv1.3,256bits,TLS_AES_256_GCM_SHA384
//   TLS_SUBJECT_CN=..., TLS_SUBJECT_EMAILADDRESS=..., one per subject field of
//     the peer's certificate, set only when that certificate was verified against
//     TLS_TRUSTCERTS (SASL EXTERNAL trusts them: TLS_EXTERNAL=emailaddress makes
//     the login name $TLS_SUBJECT_EMAILADDRESS);
// and the -printx509 text ("Subject:", "   CN=...", "Not-After: ...",
// "Version:", "Bits:", "Cipher:").
//
// SECURITY: subject fields come from the peer. A field whose value holds a
// control character or a NUL, or whose name is not [A-Z0-9_], is dropped; a name
// that occurs twice (two CN=) is dropped too, so a login name is never
// ambiguous; at most max_subject_fields fields of max_subject_value_bytes.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "lib/result.hpp"
#include "tls/openssl_handles.hpp"
#include "tls/tls_variables.hpp"  // max_subject_*, acceptable_tls_variable

namespace tls {

// Runs the handshake on a non-blocking descriptor until it completes, fails,
// or the deadline passes. The error text says what happened, for a log line:
// "client sent something that is not TLS (wrong version number)", "the client
// closed the connection during the handshake", "handshake timed out after 60
// s", "client certificate rejected: ...". All such errors are permanent (the
// connection is lost); none is the admin's fault.
lib::Result<void> handshake(SSL* ssl, int fd, std::chrono::steady_clock::time_point deadline);

struct SubjectField {
  std::string name;   // upper case short name: CN, O, OU, EMAILADDRESS...
  std::string value;  // UTF-8
};

struct ConnectionInfo {
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_256_GCM_SHA384"
  int bits = 0;
  bool peer_certificate = false;  // the peer sent a certificate
  bool peer_verified = false;     // ...and it verified against the trusted CAs
  std::vector<SubjectField> subject;  // the peer certificate's subject, filtered (see above)
  std::string servername;  // SNI sent by the client, if any
  std::string alpn;        // the protocol ALPN chose, if any
  bool resumed = false;

  // Courier's TLS_CONNECTED_PROTOCOL: "TLSv1.3,256bits,TLS_AES_256_GCM_SHA384".
  std::string protocol_description() const;
};

ConnectionInfo connection_info(SSL* ssl);

// The variables a program started after the handshake gets: TLS_CONNECTED_PROTOCOL
// always, TLS_SUBJECT_<NAME> for each field only when peer_verified.
std::vector<std::pair<std::string, std::string>> tls_environment(const ConnectionInfo& info);

// Courier's -printx509 text for the peer certificate (and the chain it sent),
// then Version/Bits/Cipher lines.
std::string x509_dump(SSL* ssl, bool server);

}  // namespace tls
