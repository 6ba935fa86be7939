// tls/pem.hpp: reading PEM files (RFC 7468) the way admins actually have them:
// Windows line ends (seed 002: "PEM_read_bio:no start line" after an upgrade),
// a UTF-8 byte order mark, the key and the certificate chain in one file, DH
// parameters appended (Courier's mkimapdcert did so), text around the blocks
// (openssl pkcs12's "Bag Attributes"). The text is normalised, split into
// blocks here, and only then given to OpenSSL through a memory BIO, so every
// failure can say which file, which line and what to do.
//
// SECURITY: certificate and key files are trusted input (the admin's), but
// every reader still has hard limits: file size, number of blocks, line count.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lib/openssl_error.hpp"
#include "lib/result.hpp"
#include "tls/openssl_handles.hpp"

namespace tls {

inline constexpr size_t max_pem_file_bytes = 1024 * 1024;
inline constexpr size_t max_pem_blocks = 64;

// The text with a leading UTF-8 byte order mark removed, CRLF and lone CR turned
// into LF, and blanks at line ends removed (OpenSSL refuses "-----END X----- "
// with a trailing blank as a missing END line).
std::string normalize_pem_text(std::string_view text);

struct PemBlock {
  std::string label;  // "CERTIFICATE", "PRIVATE KEY", "DH PARAMETERS"...
  std::string text;   // the block from its BEGIN line to its END line, LF line ends
  int line = 0;       // line number of the BEGIN line (1-based)
  bool encrypted = false;  // "ENCRYPTED PRIVATE KEY", or a "Proc-Type: 4,ENCRYPTED" header
};

// Splits normalised text into its PEM blocks; text between blocks is ignored.
// Errors, each naming origin and line: a BEGIN line without its END line (a
// truncated file), an END line without a BEGIN, END with another label, a BEGIN
// inside a block, more than max_pem_blocks blocks, no block at all (with a hint
// when the data looks like DER).
lib::Result<std::vector<PemBlock>> split_pem(std::string_view text, const std::string& origin);

// What a PEM file held, decoded.
struct PemContents {
  std::vector<X509Ptr> certificates;  // in file order: the server's first, then its chain
  EvpPkey private_key;                // null when the file has no key
  EvpPkey dh_params;                  // null when the file has no DH PARAMETERS block
  bool has_private_key_block = false;
};

// Decodes the blocks of normalised text: certificates, one unencrypted private
// key, DH parameters; other labels (CERTIFICATE REQUEST, EC PARAMETERS...) are
// ignored. Errors name origin, line and the fix: an encrypted key (couriertls
// cannot ask for a pass phrase), two private keys, a block OpenSSL cannot decode.
lib::Result<PemContents> decode_pem(std::string_view text, const std::string& origin);

// Reads and decodes a PEM file. `setting` is the variable that named the file
// ("TLS_CERTFILE") and starts every message: "TLS_CERTFILE=/etc/x.pem: ...".
// Errors: not found, permission denied (naming our uid), not a regular file,
// too large, empty, not PEM, plus those of decode_pem.
lib::Result<PemContents> load_pem_file(const std::string& path, std::string_view setting);

// OpenSSL's first queued error as text (lib/openssl_error.hpp).
using lib::openssl_error_text;

}  // namespace tls
