// tls/context.cpp: see context.hpp.
#include "tls/context.hpp"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <dirent.h>
#include <map>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.hpp"
#include "lib/privileges.hpp"
#include "tls/pem.hpp"
#include "tls/ticket_keys.hpp"

namespace tls {

struct Context::State {
  Settings settings;
  ContextOptions options;
  SslCtx ctx;
  std::string certificate_path;
  std::vector<std::string> warnings;
  std::string alpn_wire;
  std::vector<TicketKey> ticket_keys;
  EvpPkey dh_params;            // from TLS_DHPARAMS, shared by every context
  std::vector<SslCtx> sni_ctxs;  // contexts chosen by SNI, kept for the connection's life
  // $TLS_CERTFILE.<name> files loaded at start, while couriertls may still be
  // root (it then runs as the mail user, who cannot read the keys).
  std::map<std::string, SslCtx> sni_preloaded;
  std::map<std::string, std::string> sni_preload_errors;
};

namespace {

constexpr unsigned char session_id_context[] = "couriertls";
constexpr long session_timeout_s = 2 * 3600;

std::string asn1_time_text(const ASN1_TIME* t) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || !t || ASN1_TIME_print(bio.get(), t) != 1) return "(unknown date)";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

int name_cmp(const X509_NAME* const* a, const X509_NAME* const* b) { return X509_NAME_cmp(*a, *b); }

bool readable(const std::string& path) { return !path.empty() && ::access(path.c_str(), R_OK) == 0; }

// ----- callbacks (noexcept C boundaries) -------------------------------------

Context::State* state_of(SSL* ssl) {
  return static_cast<Context::State*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
}

// A private key only its owner can read, and that owner root, this
// process's user or the mail user couriertls drops to: anything else refuses
// the start, naming the file, its mode and owner, and the command that fixes it.
lib::Result<void> check_key_file(const std::string& origin, const std::string& path) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) return {};  // the read above already said what is wrong
  auto owner_name = [](uid_t uid) {
    struct passwd* pw = ::getpwuid(uid);
    return pw ? std::string(pw->pw_name) : "uid " + std::to_string(uid);
  };
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(sb.st_mode & 07777));
  std::string described = " (mode " + std::string(mode) + ", owner " + owner_name(sb.st_uid) + ")";
  if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
    return lib::permanent_error(origin + ": holds a private key that group or other users can read or write" +
                                described + "; refusing to use it: chmod 600 " + path);
  }
  std::string mail_user = lib::mail_user_name();
  struct passwd* mail_pw = ::getpwnam(mail_user.c_str());
  if (sb.st_uid != 0 && sb.st_uid != ::geteuid() && !(mail_pw && mail_pw->pw_uid == sb.st_uid)) {
    return lib::permanent_error(origin + ": holds a private key owned by another user" + described +
                                "; refusing to use it: chown " + (::geteuid() == 0 ? "root" : owner_name(::geteuid())) +
                                " " + path + " (or chown " + mail_user + ", the mail user couriertls runs as)");
  }
  return {};
}

int ticket_key_cb(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                  EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* hmac, int enc) noexcept {
  Context::State* st = state_of(ssl);
  if (!st || st->ticket_keys.empty()) return 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  if (enc) {
    const TicketKey& key = st->ticket_keys[0];
    memcpy(key_name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, 16) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv) != 1) return -1;
    if (EVP_MAC_init(hmac, key.hmac_key.data(), key.hmac_key.size(), params) != 1) return -1;
    return 1;
  }
  for (size_t i = 0; i < st->ticket_keys.size(); ++i) {
    const TicketKey& key = st->ticket_keys[i];
    if (memcmp(key_name, key.name.data(), key.name.size()) != 0) continue;
    if (EVP_MAC_init(hmac, key.hmac_key.data(), key.hmac_key.size(), params) != 1) return -1;
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv) != 1) return -1;
    return i == 0 ? 1 : 2;  // 2: made with the previous key, send a fresh ticket
  }
  return 0;  // unknown key (rotated out, or another server's): full handshake
}

int alpn_select_cb(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                   unsigned int inlen, void* arg) noexcept {
  auto* st = static_cast<Context::State*>(arg);
  // Our preference order decides (RFC 7301 section 3.2 leaves it to the server).
  for (const auto& name : st->settings.alpn) {
    unsigned int i = 0;
    while (i < inlen) {
      unsigned int len = in[i];
      if (len == 0 || i + 1 + len > inlen) return SSL_TLSEXT_ERR_ALERT_FATAL;  // malformed list
      if (len == name.size() && memcmp(in + i + 1, name.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  // RFC 7301 section 3.2: no protocol in common is a fatal no_application_protocol.
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

lib::Result<SslCtx> build_ctx(Context::State& st, const std::string& certfile, const std::string& keyfile,
                              bool main_context);

int servername_cb(SSL* ssl, int* alert, void* arg) noexcept {
  auto* st = static_cast<Context::State*>(arg);
  try {
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name || st->settings.certfile.empty()) return SSL_TLSEXT_ERR_OK;
    auto suffix = servername_suffix(name);
    if (!suffix) {
      lib::log::debug("SNI name \"%s\" is not a host name; serving %s", lib::log::sanitize(name, 100).c_str(),
                      st->certificate_path.c_str());
      return SSL_TLSEXT_ERR_OK;
    }
    if (auto pre = st->sni_preloaded.find(*suffix); pre != st->sni_preloaded.end()) {
      SSL_set_SSL_CTX(ssl, pre->second.get());
      return SSL_TLSEXT_ERR_OK;
    }
    if (auto err = st->sni_preload_errors.find(*suffix); err != st->sni_preload_errors.end()) {
      lib::log::error("%s (certificate chosen for the SNI name %s)", err->second.c_str(), suffix->c_str());
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    std::string certfile = st->settings.certfile + "." + *suffix;
    if (!readable(certfile)) return SSL_TLSEXT_ERR_OK;
    std::string keyfile;
    if (!st->settings.private_keyfile.empty() && readable(st->settings.private_keyfile + "." + *suffix)) {
      keyfile = st->settings.private_keyfile + "." + *suffix;
    }
    auto ctx = build_ctx(*st, certfile, keyfile, false);
    if (!ctx) {
      lib::log::error("%s (certificate chosen for the SNI name %s)", ctx.error().message.c_str(),
                      suffix->c_str());
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_set_SSL_CTX(ssl, ctx->get());
    st->sni_ctxs.push_back(std::move(ctx.value()));
    return SSL_TLSEXT_ERR_OK;
  } catch (...) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
}

// ----- loading ---------------------------------------------------------------

lib::Result<void> check_dh_params(EVP_PKEY* dh, const std::string& origin, int min_bits) {
  if (!EVP_PKEY_is_a(dh, "DH") && !EVP_PKEY_is_a(dh, "DHX")) {
    return lib::permanent_error(origin + ": the parameters are not Diffie-Hellman parameters: make new "
                                "ones with mkdhparams");
  }
  int bits = EVP_PKEY_get_bits(dh);
  if (bits < min_bits) {
    return lib::permanent_error(
        origin + ": the DH parameters have " + std::to_string(bits) + " bits, fewer than the " +
        std::to_string(min_bits) + " required (clients refuse weak groups, e.g. \"sslv3 alert illegal "
        "parameter\"): make new ones with \"mkdhparams -f\" (DH_BITS=3072 by default) and remove any "
        "DH PARAMETERS block from the certificate file");
  }
  return {};
}

lib::Result<void> load_certificate(Context::State& st, SSL_CTX* ctx, const std::string& certfile,
                                   const std::string& keyfile, bool main_context) {
  auto cert_pem = load_pem_file(certfile, "TLS_CERTFILE");
  if (!cert_pem) return cert_pem.error();
  std::string origin = "TLS_CERTFILE=" + certfile;
  if (cert_pem->certificates.empty()) {
    return lib::permanent_error(origin + ": holds no certificate (no -----BEGIN CERTIFICATE----- block): "
                                "put the server's certificate in it, followed by its intermediate "
                                "certificates");
  }
  EvpPkey key;
  std::string key_origin = origin;
  if (!keyfile.empty()) {
    auto key_pem = load_pem_file(keyfile, "TLS_PRIVATE_KEYFILE");
    if (!key_pem) return key_pem.error();
    key_origin = "TLS_PRIVATE_KEYFILE=" + keyfile;
    if (!key_pem->private_key) {
      return lib::permanent_error(key_origin + ": holds no private key (no -----BEGIN PRIVATE KEY----- "
                                  "block): point TLS_PRIVATE_KEYFILE at the key of " + certfile);
    }
    key = std::move(key_pem->private_key);
  } else {
    if (!cert_pem->private_key) {
      return lib::permanent_error(origin + ": holds no private key: append the key to the file (key and "
                                  "certificate in one file, mode 600) or set TLS_PRIVATE_KEYFILE to the "
                                  "key's file");
    }
    key = std::move(cert_pem->private_key);
  }
  X509* leaf = cert_pem->certificates[0].get();
  ERR_clear_error();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return lib::permanent_error(key_origin + ": the private key does not belong to the certificate in " +
                                certfile + " (key and certificate do not match): use the key that was "
                                "made with this certificate, or make a new certificate");
  }
  std::string when;
  if (certificate_expired(leaf, &when)) {
    return lib::permanent_error(origin + ": the certificate expired on " + when +
                                "; clients refuse it: renew it (a self-signed one: remove the file and run "
                                "mkimapdcert, mkpop3dcert or mkesmtpdcert)");
  }
  int days = certificate_days_left(leaf);
  if (main_context && days < st.options.expiry_warning_days) {
    st.warnings.push_back(origin + ": the certificate expires in " + std::to_string(days) + " days (" +
                          asn1_time_text(X509_get0_notAfter(leaf)) + "): renew it soon");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0 && main_context) {
    st.warnings.push_back(origin + ": the certificate is not valid before " +
                          asn1_time_text(X509_get0_notBefore(leaf)) +
                          ": is the clock of this machine right?");
  }
  ERR_clear_error();
  if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
    std::string why = openssl_error_text();
    std::string fix = "make a new certificate";
    if (why.find("too small") != std::string::npos) fix = "make a new key of at least 2048 bits (RSA) or use ECDSA P-256";
    if (why.find("md too weak") != std::string::npos) fix = "make a new certificate signed with SHA-256";
    return lib::permanent_error(origin + ": OpenSSL refuses the certificate (" + why + "): " + fix);
  }
  for (size_t i = 1; i < cert_pem->certificates.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, cert_pem->certificates[i].get()) != 1) {
      return lib::permanent_error(origin + ": OpenSSL refuses chain certificate " + std::to_string(i + 1) +
                                  " (" + openssl_error_text() + "): check the intermediate certificates");
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return lib::permanent_error(key_origin + ": OpenSSL refuses the private key (" + openssl_error_text() +
                                "): make a new key and certificate");
  }
  if (main_context) {
    const std::string& key_path = keyfile.empty() ? certfile : keyfile;
    if (auto ok = check_key_file(keyfile.empty() ? origin : key_origin, key_path); !ok) return ok.error();
  }
  // DH parameters: TLS_DHPARAMS, else a DH PARAMETERS block in the certificate file
  // (Courier's older certificates carry one), else the RFC 7919 groups.
  if (st.dh_params) {
    EVP_PKEY_up_ref(st.dh_params.get());
    EvpPkey reference(st.dh_params.get());  // the context takes it only on success
    if (SSL_CTX_set0_tmp_dh_pkey(ctx, reference.get()) != 1) {
      return lib::permanent_error("TLS_DHPARAMS=" + st.settings.dhparams + ": OpenSSL refuses the DH "
                                  "parameters (" + openssl_error_text() + "): make new ones with mkdhparams -f");
    }
    (void)reference.release();
  } else if (cert_pem->dh_params) {
    auto ok = check_dh_params(cert_pem->dh_params.get(), origin, st.settings.min_dh_bits);
    if (!ok) return ok.error();
    if (SSL_CTX_set0_tmp_dh_pkey(ctx, cert_pem->dh_params.get()) != 1) {
      return lib::permanent_error(origin + ": OpenSSL refuses the DH parameters in it (" +
                                  openssl_error_text() + "): remove the DH PARAMETERS block and run mkdhparams");
    }
    (void)cert_pem->dh_params.release();  // owned by ctx now
  } else {
    SSL_CTX_set_dh_auto(ctx, 1);
  }
  return {};
}

lib::Result<void> load_trust(Context::State& st, SSL_CTX* ctx) {
  const Settings& s = st.settings;
  bool server = st.options.role == Role::server;
  bool verify = s.verify_peer != VerifyPeer::none || (!server && !st.options.verify_domain.empty());
  if (!verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return {};
  }
  if (!server && SSL_CTX_set_default_verify_paths(ctx) != 1) ERR_clear_error();
  if (!s.trustcerts.empty()) {
    std::string origin = "TLS_TRUSTCERTS=" + s.trustcerts;
    struct stat sb;
    if (::stat(s.trustcerts.c_str(), &sb) != 0) {
      return lib::permanent_error(origin + ": " + lib::errno_text(errno) +
                                  ": set it to the PEM file (or c_rehash'ed directory) of the certificate "
                                  "authorities you trust");
    }
    bool dir = S_ISDIR(sb.st_mode);
    if (!dir) {
      auto pem = load_pem_file(s.trustcerts, "TLS_TRUSTCERTS");
      if (!pem) return pem.error();
      if (pem->certificates.empty()) {
        return lib::permanent_error(origin + ": holds no certificate: put the PEM certificates of the "
                                    "authorities you trust in it");
      }
      X509_STORE* store = SSL_CTX_get_cert_store(ctx);
      X509NameStack names(sk_X509_NAME_new_null());
      for (auto& cert : pem->certificates) {
        X509_STORE_add_cert(store, cert.get());
        if (server && names) {
          X509_NAME* name = X509_NAME_dup(X509_get_subject_name(cert.get()));
          if (name) sk_X509_NAME_push(names.get(), name);
        }
      }
      if (server && names) SSL_CTX_set_client_CA_list(ctx, names.release());  // takes ownership
      ERR_clear_error();
    } else {
      if (SSL_CTX_load_verify_dir(ctx, s.trustcerts.c_str()) != 1) {
        return lib::permanent_error(origin + ": OpenSSL cannot use the directory (" + openssl_error_text() +
                                    "): it must hold PEM certificates named by c_rehash");
      }
      if (server) {
        STACK_OF(X509_NAME)* names = sk_X509_NAME_new(name_cmp);
        if (names) {
          SSL_add_dir_cert_subjects_to_stack(names, s.trustcerts.c_str());
          ERR_clear_error();
          SSL_CTX_set_client_CA_list(ctx, names);
        }
      }
    }
  }
  int mode = SSL_VERIFY_PEER;
  if (!server || s.verify_peer == VerifyPeer::require_peer) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  return {};
}

lib::Result<SslCtx> build_ctx(Context::State& st, const std::string& certfile, const std::string& keyfile,
                              bool main_context) {
  const Settings& s = st.settings;
  bool server = st.options.role == Role::server;
  ERR_clear_error();
  SslCtx ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return lib::temporary_error("cannot make a TLS context: " + openssl_error_text());
  SSL_CTX_set_app_data(ctx.get(), &st);
  SSL_CTX_set_min_proto_version(ctx.get(), s.protocols.min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), s.protocols.max_version);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                     SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  const char* ciphers = s.cipher_list.empty() ? cipher_list_default : s.cipher_list.c_str();
  if (SSL_CTX_set_cipher_list(ctx.get(), ciphers) != 1) {
    ERR_clear_error();
    return lib::permanent_error("TLS_CIPHER_LIST=" + lib::log::sanitize(s.cipher_list, 200) +
                                ": OpenSSL knows none of these ciphers: see \"openssl ciphers -v '" +
                                lib::log::sanitize(s.cipher_list, 200) +
                                "'\", or remove TLS_CIPHER_LIST to use the default");
  }
  if (!certfile.empty()) {
    auto loaded = load_certificate(st, ctx.get(), certfile, keyfile, main_context);
    if (!loaded) return loaded.error();
  } else if (server) {
    return lib::permanent_error("TLS_CERTFILE is not set: a TLS server needs a certificate. Set "
                                "TLS_CERTFILE in the service's configuration (e.g. imapd-ssl) to the "
                                "certificate file; make a self-signed one with mkimapdcert");
  }
  auto trust = load_trust(st, ctx.get());
  if (!trust) return trust.error();
  if (server) {
    SSL_CTX_set_session_id_context(ctx.get(), session_id_context, sizeof session_id_context - 1);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(ctx.get(), session_timeout_s);
    if (!st.ticket_keys.empty()) {
      SSL_CTX_set_num_tickets(ctx.get(), 1);
      SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx.get(), ticket_key_cb);
    } else {
      // One process per connection: a ticket nobody else could decrypt only costs time.
      SSL_CTX_set_num_tickets(ctx.get(), 0);
      SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    }
    if (!s.alpn.empty()) SSL_CTX_set_alpn_select_cb(ctx.get(), alpn_select_cb, &st);
    if (main_context) {
      SSL_CTX_set_tlsext_servername_callback(ctx.get(), servername_cb);
      SSL_CTX_set_tlsext_servername_arg(ctx.get(), &st);
    }
  } else {
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    if (!st.alpn_wire.empty() &&
        SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(st.alpn_wire.data()),
                                static_cast<unsigned int>(st.alpn_wire.size())) != 0) {
      return lib::permanent_error("TLS_ALPN: OpenSSL refuses the protocol list: " + openssl_error_text());
    }
  }
  return ctx;
}

}  // namespace

bool certificate_expired(X509* cert, std::string* when) {
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  if (when) *when = asn1_time_text(not_after);
  return X509_cmp_current_time(not_after) < 0;
}

int certificate_days_left(X509* cert) {
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert)) != 1) return 0;
  return days;
}

Context::Context(std::unique_ptr<State> state) : state_(std::move(state)) {}
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;
Context::~Context() = default;

SSL_CTX* Context::get() const { return state_->ctx.get(); }
const std::vector<std::string>& Context::warnings() const { return state_->warnings; }
const std::string& Context::certificate_path() const { return state_->certificate_path; }

namespace {

// Every $TLS_CERTFILE.<host name> beside TLS_CERTFILE, loaded now: the
// servername callback runs after the switch to the mail user.
void preload_sni(Context::State& st) {
  const std::string& base = st.settings.certfile;
  if (base.empty()) return;
  size_t slash = base.rfind('/');
  std::string dir = slash == std::string::npos ? "." : base.substr(0, slash == 0 ? 1 : slash);
  std::string prefix = (slash == std::string::npos ? base : base.substr(slash + 1)) + ".";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) continue;
    auto suffix = servername_suffix(name.substr(prefix.size()));
    if (!suffix || *suffix != name.substr(prefix.size())) continue;
    std::string keyfile;
    if (!st.settings.private_keyfile.empty() && readable(st.settings.private_keyfile + "." + *suffix))
      keyfile = st.settings.private_keyfile + "." + *suffix;
    auto ctx = build_ctx(st, base + "." + *suffix, keyfile, false);
    if (ctx) st.sni_preloaded.emplace(*suffix, std::move(ctx.value()));
    else st.sni_preload_errors.emplace(*suffix, ctx.error().message);
  }
  ::closedir(d);
}

}  // namespace

lib::Result<Context> Context::create(const Settings& settings, const ContextOptions& options) {
  auto st = std::make_unique<State>();
  st->settings = settings;
  st->options = options;
  st->warnings = settings.warnings;
  st->alpn_wire = alpn_wire_format(settings.alpn);
  bool server = options.role == Role::server;

  if (!settings.dhparams.empty() && server) {
    auto pem = load_pem_file(settings.dhparams, "TLS_DHPARAMS");
    if (!pem) {
      std::string msg = pem.error().message;
      if (msg.find("does not exist") != std::string::npos) {
        msg = "TLS_DHPARAMS=" + settings.dhparams + ": the file does not exist: make it with mkdhparams "
              "(or remove TLS_DHPARAMS to use the RFC 7919 groups built into OpenSSL)";
      }
      return lib::permanent_error(msg);
    }
    if (!pem->dh_params) {
      return lib::permanent_error("TLS_DHPARAMS=" + settings.dhparams +
                                  ": holds no DH PARAMETERS block: make it again with mkdhparams -f");
    }
    auto ok = check_dh_params(pem->dh_params.get(), "TLS_DHPARAMS=" + settings.dhparams, settings.min_dh_bits);
    if (!ok) return ok.error();
    st->dh_params = std::move(pem->dh_params);
  }

  if (server && !settings.cachefile.empty()) {
    auto keys = load_ticket_keys(settings.cachefile, std::time(nullptr));
    if (keys) {
      st->ticket_keys = std::move(keys.value());
    } else {
      st->warnings.push_back(keys.error().message);
    }
  }

  std::string certfile = settings.certfile;
  std::string keyfile = settings.private_keyfile;
  if (server && !certfile.empty() && !settings.local_ip.empty() &&
      readable(certfile + "." + settings.local_ip)) {
    certfile += "." + settings.local_ip;
    keyfile = readable(keyfile + "." + settings.local_ip) ? keyfile + "." + settings.local_ip : std::string();
  }
  st->certificate_path = certfile;
  auto ctx = build_ctx(*st, certfile, keyfile, true);
  if (!ctx) return ctx.error();
  st->ctx = std::move(ctx.value());
  if (server && ::geteuid() == 0) preload_sni(*st);
  return Context(std::move(st));
}

std::optional<std::string> Context::reload_ticket_keys() {
  if (state_->options.role != Role::server || state_->settings.cachefile.empty()) return std::nullopt;
  auto keys = load_ticket_keys(state_->settings.cachefile, std::time(nullptr));
  if (!keys) {
    state_->ticket_keys.clear();  // ticket_key_cb then issues no ticket and decrypts none
    return keys.error().message;
  }
  state_->ticket_keys = std::move(keys.value());
  return std::nullopt;
}

namespace {

// Drives a client and a server SSL joined by a BIO pair until both finish the
// handshake; false when either fails or it does not end in a few rounds.
bool memory_handshake(SSL* client, SSL* server) {
  for (int round = 0; round < 16; ++round) {
    int c = SSL_do_handshake(client);
    if (c != 1) {
      int err = SSL_get_error(client, c);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return false;
    }
    int s = SSL_do_handshake(server);
    if (s != 1) {
      int err = SSL_get_error(server, s);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return false;
    }
    if (c == 1 && s == 1) {
      // TLS 1.3: the client reads what the server sent after its Finished
      // (tickets), as a real client's first read would.
      char byte;
      (void)SSL_read(client, &byte, 0);
      return true;
    }
  }
  return false;
}

}  // namespace

int Context::warm_up() const {
  if (state_->options.role != Role::server) return 0;
  SSL_CTX* server_ctx = state_->ctx.get();
  EVP_PKEY* key = SSL_CTX_get0_privatekey(server_ctx);
  X509* cert = SSL_CTX_get0_certificate(server_ctx);
  if (!key || !cert) return 0;
  int done = 0;
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    if (version < state_->settings.protocols.min_version ||
        (state_->settings.protocols.max_version != 0 && version > state_->settings.protocols.max_version))
      continue;
    ERR_clear_error();
    SslCtx client_ctx(SSL_CTX_new(TLS_client_method()));
    if (!client_ctx) break;
    SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_min_proto_version(client_ctx.get(), version);
    SSL_CTX_set_max_proto_version(client_ctx.get(), version);
    Ssl client(SSL_new(client_ctx.get()));
    Ssl server(SSL_new(server_ctx));
    EvpPkey copy(EVP_PKEY_dup(key));
    if (!client || !server || !copy) break;
    // The copy replaces the key in this connection's own certificate slot
    // only (SSL_new made it from the context's; the context keeps its key).
    if (SSL_use_certificate(server.get(), cert) != 1 || SSL_use_PrivateKey(server.get(), copy.get()) != 1) break;
    SSL_set_verify(server.get(), SSL_VERIFY_NONE, nullptr);
    BIO* client_bio = nullptr;
    BIO* server_bio = nullptr;
    if (BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) != 1) break;
    SSL_set_bio(client.get(), client_bio, client_bio);  // each SSL owns its end
    SSL_set_bio(server.get(), server_bio, server_bio);
    SSL_set_connect_state(client.get());
    SSL_set_accept_state(server.get());
    if (memory_handshake(client.get(), server.get())) ++done;
  }
  ERR_clear_error();
  return done;
}

lib::Result<Ssl> Context::new_connection(int fd) const {
  Ssl ssl(SSL_new(state_->ctx.get()));
  if (!ssl) return lib::temporary_error("SSL_new: " + openssl_error_text());
  if (SSL_set_fd(ssl.get(), fd) != 1) return lib::temporary_error("SSL_set_fd: " + openssl_error_text());
  if (state_->options.role == Role::server) {
    SSL_set_accept_state(ssl.get());
  } else {
    const std::string& name =
        state_->options.verify_domain.empty() ? state_->options.servername : state_->options.verify_domain;
    if (!name.empty() && servername_suffix(name)) SSL_set_tlsext_host_name(ssl.get(), name.c_str());
    if (!state_->options.verify_domain.empty()) {
      SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(ssl.get(), state_->options.verify_domain.c_str()) != 1) {
        return lib::permanent_error("-verify=" + state_->options.verify_domain + ": not a host name");
      }
    }
    SSL_set_connect_state(ssl.get());
  }
  return ssl;
}

}  // namespace tls
