// tests/tls/tls_test_util.cpp: see tls_test_util.hpp.
#include "tests/tls/tls_test_util.hpp"

#include <cstdlib>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

namespace tlstest {

namespace {
std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}
}  // namespace

tls::EvpPkey make_rsa_key(int bits) {
  tls::EvpPkey key(EVP_RSA_gen(static_cast<unsigned>(bits)));
  if (!key) std::abort();
  return key;
}

tls::X509Ptr make_cert(EVP_PKEY* key, const CertSpec& spec, EVP_PKEY* issuer_key, X509* issuer) {
  tls::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_s);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(spec.cn.c_str()),
                             -1, -1, 0);
  if (!spec.email.empty()) {
    X509_NAME_add_entry_by_txt(name, "emailAddress", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(spec.email.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) std::abort();
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (!spec.dns.empty()) add(NID_subject_alt_name, "DNS:" + spec.dns);
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) std::abort();
  return cert;
}

std::string key_pem(EVP_PKEY* key) {
  tls::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio.get());
}

std::string cert_pem(X509* cert) {
  tls::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_text(bio.get());
}

std::string dh_group_pem(const std::string& group) {
  tls::EvpPkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
  if (!ctx || EVP_PKEY_paramgen_init(ctx.get()) != 1) std::abort();
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group.c_str()), 0),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_CTX_set_params(ctx.get(), params) != 1 || EVP_PKEY_paramgen(ctx.get(), &raw) != 1) std::abort();
  tls::EvpPkey pkey(raw);
  tls::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_Parameters(bio.get(), pkey.get());
  return bio_text(bio.get());
}

}  // namespace tlstest
