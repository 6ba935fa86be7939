// tls/openssl_handles.hpp: owning handles for the OpenSSL objects of the TLS
// layer. Each handle type is declared once, here; no other tls/ file calls an
// OpenSSL _free function (STYLE.md, section 6).
#pragma once

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/c_handle.hpp"

namespace tls {

// A context: protocol limits, certificate, key, callbacks (SSL_CTX_new).
using SslCtx = lib::CHandle<SSL_CTX, SSL_CTX_free>;
// One TLS connection (SSL_new).
using Ssl = lib::CHandle<SSL, SSL_free>;
// A certificate (PEM_read_bio_X509, SSL_get1_peer_certificate).
using X509Ptr = lib::CHandle<X509, X509_free>;
// A key or a set of domain parameters, e.g. DH parameters (PEM_read_bio_PrivateKey,
// PEM_read_bio_Parameters_ex).
using EvpPkey = lib::CHandle<EVP_PKEY, EVP_PKEY_free>;
// A key or parameter generation context (EVP_PKEY_CTX_new_from_name).
using EvpPkeyCtx = lib::CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
// A memory or file BIO (BIO_new_mem_buf, BIO_new).
using Bio = lib::CHandle<BIO, BIO_free_all>;
// A cipher context, for the session-ticket callback (EVP_CIPHER_CTX_new).
using EvpCipher = lib::CHandle<EVP_CIPHER, EVP_CIPHER_free>;
// A MAC implementation (EVP_MAC_fetch).
using EvpMac = lib::CHandle<EVP_MAC, EVP_MAC_free>;

// A decoder from DER to a key or parameters (OSSL_DECODER_CTX_new_for_pkey).
using DecoderCtx = lib::CHandle<OSSL_DECODER_CTX, OSSL_DECODER_CTX_free>;

namespace detail {
inline void free_general_names(GENERAL_NAMES* names) { GENERAL_NAMES_free(names); }
inline void free_x509_names(STACK_OF(X509_NAME) * names) { sk_X509_NAME_pop_free(names, X509_NAME_free); }
inline void free_openssl_string(char* text) { OPENSSL_free(text); }
inline void free_openssl_bytes(unsigned char* bytes) { OPENSSL_free(bytes); }
}  // namespace detail

// The subjectAltName extension of a certificate (X509_get_ext_d2i).
using GeneralNames = lib::CHandle<GENERAL_NAMES, detail::free_general_names>;
// Text that OpenSSL allocated (X509_NAME_oneline, ASN1_STRING_to_UTF8 with char*).
using OpensslString = lib::CHandle<char, detail::free_openssl_string>;
// A list of names, e.g. the client CA list (sk_X509_NAME_new_null).
using X509NameStack = lib::CHandle<STACK_OF(X509_NAME), detail::free_x509_names>;
// Bytes that OpenSSL allocated (ASN1_STRING_to_UTF8).
using OpensslBytes = lib::CHandle<unsigned char, detail::free_openssl_bytes>;

}  // namespace tls
