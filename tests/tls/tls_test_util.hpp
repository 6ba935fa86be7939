// tests/tls/tls_test_util.hpp: keys and certificates made in memory for the
// tls/ unit tests (no files shipped, nothing expires by surprise).
#pragma once

#include <string>

#include "tls/openssl_handles.hpp"

namespace tlstest {

// A new RSA key of `bits` bits (2048 unless a test needs a weak one).
tls::EvpPkey make_rsa_key(int bits = 2048);

struct CertSpec {
  std::string cn = "localhost";
  std::string email;               // emailAddress in the subject, if not empty
  std::string dns;                 // subjectAltName DNS, if not empty
  long not_before_s = -3600;       // relative to now
  long not_after_s = 30L * 86400;  // relative to now
  bool ca = false;
};

// A certificate for key, signed by issuer_key (self-signed when null).
tls::X509Ptr make_cert(EVP_PKEY* key, const CertSpec& spec, EVP_PKEY* issuer_key = nullptr,
                       X509* issuer = nullptr);

std::string key_pem(EVP_PKEY* key);
std::string cert_pem(X509* cert);
// DH parameters of an RFC 3526 / RFC 7919 group by OpenSSL name, as PEM.
std::string dh_group_pem(const std::string& group);

}  // namespace tlstest
