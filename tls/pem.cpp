// tls/pem.cpp: see pem.hpp.
#include "tls/pem.hpp"

#include <cerrno>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config.hpp"
#include "lib/log.hpp"

namespace tls {

namespace {

constexpr std::string_view begin_marker = "-----BEGIN ";
constexpr std::string_view end_marker = "-----END ";
constexpr std::string_view dashes = "-----";

// "-----BEGIN X-----" -> "X"; empty when the line is not of that shape.
std::string_view marker_label(std::string_view line, std::string_view marker) {
  if (line.size() < marker.size() + dashes.size() + 1) return {};
  if (line.substr(0, marker.size()) != marker) return {};
  if (line.substr(line.size() - dashes.size()) != dashes) return {};
  return line.substr(marker.size(), line.size() - marker.size() - dashes.size());
}

// OpenSSL must never prompt on a terminal for a pass phrase.
int no_password(char*, int, int, void*) { return -1; }

// The algorithm a PKCS#8 PrivateKeyInfo names ("rsaEncryption",
// "id-ecPublicKey", "ED25519"), which the providers know as a key type name:
// with it the decoder tries one key type instead of every one (a quarter of
// couriertls's key loading, measured with callgrind). "" when unreadable.
std::string pkcs8_algorithm(const unsigned char* der, long der_len) {
  const unsigned char* p = der;
  lib::CHandle<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free> info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, der_len));
  if (!info) {
    ERR_clear_error();
    return {};
  }
  const ASN1_OBJECT* object = nullptr;
  if (PKCS8_pkey_get0(&object, nullptr, nullptr, nullptr, info.get()) != 1 || !object) return {};
  int nid = OBJ_obj2nid(object);
  const char* name = nid == NID_undef ? nullptr : OBJ_nid2sn(nid);
  return name ? name : "";
}

// Decodes one PEM block whose DER structure the label already tells, with a
// decoder narrowed to that structure and key type. OpenSSL 3's generic
// PEM_read_bio_PrivateKey/Parameters try every decoder of every provider, which
// costs more than the rest of couriertls's start-up; couriertls starts once per
// connection, so this is worth the few lines. Null on failure (error queue set).
EvpPkey decode_block(const PemBlock& block, const char* structure, const char* keytype, int selection) {
  Bio bio(BIO_new_mem_buf(block.text.data(), static_cast<int>(block.text.size())));
  if (!bio) return nullptr;
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* der = nullptr;
  long der_len = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &der, &der_len) != 1) return nullptr;
  OpensslString owned_name(name), owned_header(header);
  OpensslBytes owned_der(der);
  std::string algorithm;
  if (!keytype && std::string_view(structure) == "PrivateKeyInfo") {
    algorithm = pkcs8_algorithm(der, der_len);
    if (!algorithm.empty()) keytype = algorithm.c_str();
  }
  EVP_PKEY* pkey = nullptr;
  DecoderCtx dctx(OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", structure, keytype, selection, nullptr, nullptr));
  if (!dctx) return nullptr;
  const unsigned char* p = der;
  size_t left = static_cast<size_t>(der_len);
  int ok = OSSL_DECODER_from_data(dctx.get(), &p, &left);
  dctx.reset();
  EvpPkey result(pkey);
  if (ok != 1) return nullptr;
  return result;
}

std::string quote(std::string_view text) { return lib::log::sanitize(text, 80); }

}  // namespace


std::string normalize_pem_text(std::string_view text) {
  while (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // editors add one, sometimes twice
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') continue;
      c = '\n';
    }
    if (c == '\n') {
      while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
    }
    out.push_back(c);
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  return out;
}

lib::Result<std::vector<PemBlock>> split_pem(std::string_view text, const std::string& origin) {
  std::vector<PemBlock> blocks;
  PemBlock current;
  bool inside = false;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line.find('\0') != std::string_view::npos && inside) {
      return lib::permanent_error(origin + ":" + std::to_string(line_no) +
                                  ": a NUL byte inside the " + current.label +
                                  " block: the file is damaged; get a fresh copy");
    }
    std::string_view begin = marker_label(line, begin_marker);
    std::string_view end = marker_label(line, end_marker);
    if (!begin.empty()) {
      if (inside) {
        return lib::permanent_error(origin + ":" + std::to_string(line_no) + ": \"" + quote(line) +
                                    "\" inside the " + current.label + " block that starts at line " +
                                    std::to_string(current.line) + ", which has no -----END " +
                                    current.label + "----- line: the file is truncated or two files "
                                    "were pasted together; get a fresh copy of that block");
      }
      if (blocks.size() >= max_pem_blocks) {
        return lib::permanent_error(origin + ":" + std::to_string(line_no) + ": more than " +
                                    std::to_string(max_pem_blocks) +
                                    " PEM blocks; a certificate file holds a key, a few certificates "
                                    "and DH parameters: is this the right file?");
      }
      inside = true;
      current = PemBlock{};
      current.label = std::string(begin);
      current.line = line_no;
      current.encrypted = current.label == "ENCRYPTED PRIVATE KEY";
      current.text.assign(line);
      current.text.push_back('\n');
      continue;
    }
    if (!end.empty()) {
      if (!inside) {
        return lib::permanent_error(origin + ":" + std::to_string(line_no) + ": \"" + quote(line) +
                                    "\" without a -----BEGIN " + quote(end) +
                                    "----- line before it: the file is damaged; get a fresh copy");
      }
      if (end != current.label) {
        return lib::permanent_error(origin + ":" + std::to_string(line_no) + ": \"" + quote(line) +
                                    "\" ends the " + current.label + " block that starts at line " +
                                    std::to_string(current.line) + ": the file is damaged; get a "
                                    "fresh copy");
      }
      current.text.append(line);
      current.text.push_back('\n');
      blocks.push_back(std::move(current));
      current = PemBlock{};
      inside = false;
      continue;
    }
    if (inside) {
      if (line.rfind("Proc-Type:", 0) == 0 && line.find("ENCRYPTED") != std::string_view::npos) {
        current.encrypted = true;
      }
      current.text.append(line);
      current.text.push_back('\n');
    }
  }
  if (inside) {
    return lib::permanent_error(origin + ":" + std::to_string(current.line) + ": the " + current.label +
                                " block has no -----END " + current.label +
                                "----- line: the file is truncated; get a fresh copy");
  }
  if (blocks.empty()) {
    std::string hint;
    if (!text.empty() && static_cast<unsigned char>(text[0]) == 0x30) {
      hint = " It looks like binary DER: convert it with "
             "\"openssl x509 -inform der -in FILE -out FILE.pem\" (a key: \"openssl pkey -inform der ...\").";
    }
    return lib::permanent_error(origin + ": not a PEM file: no \"-----BEGIN ...-----\" line was found." +
                                hint + " A certificate file must hold the certificate (and, unless "
                                "TLS_PRIVATE_KEYFILE is set, its private key) in PEM form");
  }
  return blocks;
}

lib::Result<PemContents> decode_pem(std::string_view text, const std::string& origin) {
  auto blocks = split_pem(text, origin);
  if (!blocks) return blocks.error();
  PemContents contents;
  ERR_clear_error();
  for (const PemBlock& block : *blocks) {
    std::string where = origin + ":" + std::to_string(block.line);
    Bio bio(BIO_new_mem_buf(block.text.data(), static_cast<int>(block.text.size())));
    if (!bio) return lib::temporary_error(where + ": out of memory");
    const std::string& label = block.label;
    bool is_key = label == "PRIVATE KEY" || label == "RSA PRIVATE KEY" || label == "EC PRIVATE KEY" ||
                  label == "DSA PRIVATE KEY" || label == "ENCRYPTED PRIVATE KEY";
    if (is_key) {
      contents.has_private_key_block = true;
      if (block.encrypted) {
        return lib::permanent_error(where + ": the private key is encrypted with a pass phrase, and a "
                                    "server cannot ask for one: store it unencrypted (mode 600) with "
                                    "\"openssl pkey -in KEY -out KEY.plain\"");
      }
      if (contents.private_key) {
        return lib::permanent_error(where + ": a second private key; a file must hold one key, the one "
                                    "that belongs to its first certificate: remove the other");
      }
      const char* structure = label == "PRIVATE KEY" ? "PrivateKeyInfo" : "type-specific";
      const char* keytype = label == "RSA PRIVATE KEY"   ? "RSA"
                            : label == "EC PRIVATE KEY"  ? "EC"
                            : label == "DSA PRIVATE KEY" ? "DSA"
                                                         : nullptr;
      contents.private_key = decode_block(block, structure, keytype, EVP_PKEY_KEYPAIR);
      if (!contents.private_key) {  // an unusual encoding: let OpenSSL try everything
        ERR_clear_error();
        contents.private_key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
      }
      if (!contents.private_key) {
        return lib::permanent_error(where + ": the " + label + " block cannot be decoded (" +
                                    openssl_error_text() + "): the key is damaged; get a fresh copy");
      }
    } else if (label == "CERTIFICATE" || label == "X509 CERTIFICATE" || label == "TRUSTED CERTIFICATE") {
      X509Ptr cert(label == "TRUSTED CERTIFICATE"
                       ? PEM_read_bio_X509_AUX(bio.get(), nullptr, no_password, nullptr)
                       : PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
      if (!cert) {
        return lib::permanent_error(where + ": the " + label + " block cannot be decoded (" +
                                    openssl_error_text() + "): the certificate is damaged; get a "
                                    "fresh copy");
      }
      contents.certificates.push_back(std::move(cert));
    } else if (label == "DH PARAMETERS" || label == "X9.42 DH PARAMETERS") {
      if (contents.dh_params) continue;  // the first set counts, as in OpenSSL
      contents.dh_params = decode_block(block, "type-specific", label == "DH PARAMETERS" ? "DH" : "DHX",
                                        EVP_PKEY_KEY_PARAMETERS);
      if (!contents.dh_params) {
        ERR_clear_error();
        contents.dh_params.reset(PEM_read_bio_Parameters_ex(bio.get(), nullptr, nullptr, nullptr));
      }
      if (!contents.dh_params) {
        return lib::permanent_error(where + ": the " + label + " block cannot be decoded (" +
                                    openssl_error_text() + "): make new ones with mkdhparams");
      }
    }
  }
  return contents;
}

lib::Result<PemContents> load_pem_file(const std::string& path, std::string_view setting) {
  std::string origin = std::string(setting) + "=" + path;
  int open_errno = 0;
  auto text = lib::read_small_file(path, max_pem_file_bytes, &open_errno);
  if (!text) {
    if (open_errno == ENOENT) {
      return lib::permanent_error(origin + ": the file does not exist. Create it (for a self-signed "
                                  "certificate: mkimapdcert, mkpop3dcert or mkesmtpdcert) or point " +
                                  std::string(setting) + " at your certificate");
    }
    if (open_errno == EACCES) {
      return lib::permanent_error(origin + ": permission denied: this program runs as uid " +
                                  std::to_string(geteuid()) +
                                  ", which cannot read it; make it readable by that user (and by no "
                                  "one else: chmod 600), or run the service as root");
    }
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return lib::permanent_error(origin + ": is a directory, not a PEM file: set " +
                                  std::string(setting) + " to the file itself");
    }
    return lib::permanent_error(origin + ": " + text.error().message);
  }
  if (text->empty()) {
    return lib::permanent_error(origin + ": the file is empty. Create the certificate again (for a "
                                "self-signed one: remove the file and run mkimapdcert, mkpop3dcert or "
                                "mkesmtpdcert)");
  }
  return decode_pem(normalize_pem_text(*text), origin);
}

}  // namespace tls
