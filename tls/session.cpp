// tls/session.cpp: see session.hpp.
#include "tls/session.hpp"

#include <cerrno>
#include <ctime>
#include <map>
#include <openssl/err.h>
#include <poll.h>

#include "lib/log.hpp"
#include "tls/pem.hpp"
#include "tls/settings.hpp"

namespace tls {

namespace {

// The reason text of an OpenSSL error without the "error:0A00010B:SSL routines::" part.
std::string reason_text(unsigned long err) {
  const char* reason = ERR_reason_error_string(err);
  if (reason) return reason;
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  return buf;
}

std::string handshake_failure(SSL* ssl, int rc, bool server) {
  int code = SSL_get_error(ssl, rc);
  unsigned long err = ERR_peek_error();
  std::string peer = server ? "the client" : "the server";
  if (code == SSL_ERROR_SYSCALL || code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SSL && err == 0)) {
    int saved = errno;
    ERR_clear_error();
    if (code == SSL_ERROR_SYSCALL && saved != 0) return peer + " connection failed during the handshake: " + lib::errno_text(saved);
    return peer + " closed the connection during the handshake";
  }
  std::string reason = reason_text(err);
  long verify = SSL_get_verify_result(ssl);
  ERR_clear_error();
  if (ERR_GET_REASON(err) == SSL_R_WRONG_VERSION_NUMBER || ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST ||
      ERR_GET_REASON(err) == SSL_R_HTTPS_PROXY_REQUEST) {
    return peer + " sent something that is not TLS (" + reason + ")";
  }
  if (ERR_GET_REASON(err) == SSL_R_UNSUPPORTED_PROTOCOL) {
    return peer + " offers only protocols older than TLS 1.2, which are refused (" + reason + ")";
  }
  if (ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED || verify != X509_V_OK) {
    return (server ? "client" : "server") + std::string(" certificate rejected: ") +
           X509_verify_cert_error_string(verify) + " (" + reason + ")";
  }
  if (ERR_GET_REASON(err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    return "the client sent no certificate, and TLS_VERIFYPEER=REQUIREPEER requires one (" + reason + ")";
  }
  return "handshake failed: " + reason;
}

std::string asn1_time_iso(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void dump_certificate(X509* x, std::string& out) {
  X509_NAME* subject = X509_get_subject_name(x);
  if (!subject) return;
  out += "Subject:\n";
  int n = X509_NAME_entry_count(subject);
  for (int i = 0; i < n && i < 64; ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(subject, i);
    const char* sn = OBJ_nid2sn(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (len < 0) continue;
    OpensslBytes owned(utf8);
    out += "   ";
    out += sn ? sn : "UNDEF";
    out += "=";
    out += lib::log::sanitize(std::string_view(reinterpret_cast<char*>(utf8), static_cast<size_t>(len)),
                              max_subject_value_bytes);
    out += "\n";
  }
  out += "\n";
  GeneralNames names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()) && i < 64; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_DNS) continue;
    std::string_view dns(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.ia5)),
                         static_cast<size_t>(ASN1_STRING_length(gn->d.ia5)));
    out += "Subject-Alt-Name-DNS: " + lib::log::sanitize(dns, 256) + "\n";
  }
  std::string before = asn1_time_iso(X509_get0_notBefore(x));
  std::string after = asn1_time_iso(X509_get0_notAfter(x));
  if (!before.empty()) out += "Not-Before: " + before + "\n";
  if (!after.empty()) out += "Not-After: " + after + "\n";
}

}  // namespace

lib::Result<void> handshake(SSL* ssl, int fd, std::chrono::steady_clock::time_point deadline) {
  bool server = SSL_is_server(ssl) != 0;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) return {};
    int code = SSL_get_error(ssl, rc);
    short events = 0;
    if (code == SSL_ERROR_WANT_READ) events = POLLIN;
    else if (code == SSL_ERROR_WANT_WRITE) events = POLLOUT;
    else return lib::permanent_error(handshake_failure(ssl, rc, server));
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return lib::permanent_error("the handshake timed out: " + std::string(server ? "the client" : "the server") +
                                    " stopped answering");
      }
      struct pollfd p = {fd, events, 0};
      int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 60000)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return lib::permanent_error("poll: " + lib::errno_text(errno));
      if (n > 0) break;
    }
  }
}

std::string ConnectionInfo::protocol_description() const {
  return (version.empty() ? "unknown" : version) + "," + std::to_string(bits) + "bits," +
         (cipher.empty() ? "unknown" : cipher);
}

ConnectionInfo connection_info(SSL* ssl) {
  ConnectionInfo info;
  info.version = SSL_get_version(ssl);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (cipher) {
    info.cipher = SSL_CIPHER_get_name(cipher);
    info.bits = SSL_CIPHER_get_bits(cipher, nullptr);
  }
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (sni) info.servername = lib::log::sanitize(sni, max_servername_bytes);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  info.resumed = SSL_session_reused(ssl) == 1;

  X509* peer = SSL_get0_peer_certificate(ssl);
  if (!peer) return info;
  info.peer_certificate = true;
  info.peer_verified = SSL_get_verify_result(ssl) == X509_V_OK;
  X509_NAME* subject = X509_get_subject_name(peer);
  int n = subject ? X509_NAME_entry_count(subject) : 0;
  std::map<std::string, int> seen;
  std::vector<SubjectField> fields;
  for (int i = 0; i < n; ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(subject, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    if (nid == NID_undef) continue;
    std::string name = OBJ_nid2sn(nid);
    for (char& c : name) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (c == '-' || c == '.') c = '_';
    }
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (len < 0) {
      ERR_clear_error();
      continue;
    }
    OpensslBytes owned(utf8);
    std::string value(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    if (!valid_variable_name(name) || !valid_variable_value(value)) {
      lib::log::warning("peer certificate: subject field %s dropped (not a safe name or value)",
                        lib::log::sanitize(name, 64).c_str());
      continue;
    }
    ++seen[name];
    fields.push_back({name, value});
  }
  for (auto& field : fields) {
    if (seen[field.name] > 1) continue;  // ambiguous: never a login name
    if (info.subject.size() >= max_subject_fields) break;
    info.subject.push_back(std::move(field));
  }
  return info;
}

std::vector<std::pair<std::string, std::string>> tls_environment(const ConnectionInfo& info) {
  std::vector<std::pair<std::string, std::string>> env;
  env.emplace_back("TLS_CONNECTED_PROTOCOL", info.protocol_description());
  if (info.peer_verified) {
    for (const auto& field : info.subject) env.emplace_back("TLS_SUBJECT_" + field.name, field.value);
  }
  return env;
}

std::string x509_dump(SSL* ssl, bool server) {
  std::string out;
  if (server) {
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (peer) dump_certificate(peer, out);
  }
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  for (int i = 0; chain && i < sk_X509_num(chain) && i < 16; ++i) dump_certificate(sk_X509_value(chain, i), out);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (cipher) {
    out += std::string("Version: ") + SSL_get_version(ssl) + "\n";
    out += "Bits: " + std::to_string(SSL_CIPHER_get_bits(cipher, nullptr)) + "\n";
    out += std::string("Cipher: ") + SSL_CIPHER_get_name(cipher) + "\n";
  }
  return out;
}

}  // namespace tls
