// tls/settings.hpp: the TLS settings, read from the environment variables
// that Courier's start scripts export to couriertls (couriertls(1),
// COURIER-COMPAT.md section 6): TLS_PROTOCOL, TLS_CIPHER_LIST, TLS_CERTFILE,
// TLS_PRIVATE_KEYFILE, TLS_DHPARAMS, TLS_MIN_DH_BITS, TLS_TRUSTCERTS,
// TLS_VERIFYPEER, TLS_CACHEFILE, TLS_CACHESIZE, TLS_ALPN, and TCPLOCALIP /
// TCPREMOTEIP from couriertcpd.
//
// This file is a pure parser: no file is opened here (see context.hpp).
// Differences from Courier, each safer: TLS 1.0 and 1.1 are never offered
// (an old TLS_PROTOCOL value gets TLS 1.2 and 1.3 and a warning); the default
// TLS_VERIFYPEER of a server is NONE (Courier's is PEER, which every
// shipped config file overrides).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace tls {

// TLS protocol versions as the wire numbers OpenSSL uses (TLS1_2_VERSION...).
inline constexpr int tls12_version = 0x0303;
inline constexpr int tls13_version = 0x0304;

// The smallest DH group accepted, whatever TLS_MIN_DH_BITS says (Logjam,
// RFC 7919 section 1: groups under 2048 bits are within reach of precomputation).
inline constexpr int min_dh_bits_floor = 2048;

// Limits against a hostile or corrupt environment.
inline constexpr size_t max_alpn_protocols = 32;
inline constexpr size_t max_servername_bytes = 253;

enum class VerifyPeer {
  none,          // do not ask for a client certificate
  peer,          // ask; a certificate that is sent must be signed by TLS_TRUSTCERTS
  require_peer,  // as peer, and a client without a certificate is refused
};

struct ProtocolRange {
  int min_version = tls12_version;
  int max_version = tls13_version;
};

struct Settings {
  ProtocolRange protocols;
  std::string cipher_list;        // TLS_CIPHER_LIST; empty: our default (cipher_list_default)
  std::string certfile;           // TLS_CERTFILE (required by a server)
  std::string private_keyfile;    // TLS_PRIVATE_KEYFILE; empty: the key is in certfile
  std::string dhparams;           // TLS_DHPARAMS; empty: DH parameters from certfile, or RFC 7919
  int min_dh_bits = min_dh_bits_floor;  // TLS_MIN_DH_BITS, never below the floor
  std::string trustcerts;         // TLS_TRUSTCERTS: a PEM file or a c_rehash'ed directory
  VerifyPeer verify_peer = VerifyPeer::none;
  bool verify_peer_set = false;   // TLS_VERIFYPEER was given (a client then defaults to it)
  std::string cachefile;          // TLS_CACHEFILE: session-ticket keys shared by all processes
  std::vector<std::string> alpn;  // TLS_ALPN, in order of preference
  std::chrono::seconds handshake_timeout{60};  // TLS_HANDSHAKE_TIMEOUT (our extension)
  std::string local_ip;           // TCPLOCALIP, normalised (see local_ip_suffix); may be empty
  std::string remote_ip;          // TCPREMOTEIP, for log lines; may be empty
  // What the admin should know but that does not stop the program (old protocol
  // names, GnuTLS-only settings). Each names the setting and the fix.
  std::vector<std::string> warnings;
};

// The ciphers offered for TLS 1.2 when TLS_CIPHER_LIST is not set: forward-secret
// AEAD suites only. TLS 1.3 suites are OpenSSL's defaults (all of them are AEAD).
inline constexpr const char* cipher_list_default =
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL";

// Looks up one variable: the value, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// An EnvLookup over this process's environment (getenv).
EnvLookup process_environment();

// Reads every setting. Fails (permanently, naming the variable, its value and the
// fix) on a value that cannot be read safely: an unknown TLS_PROTOCOL, an
// unknown TLS_VERIFYPEER, a malformed TLS_MIN_DH_BITS or TLS_ALPN,
// TLS_VERIFYPEER=PEER or REQUIREPEER without TLS_TRUSTCERTS. Settings that are
// understood but changed (TLS_PROTOCOL=TLSv1) become warnings.
lib::Result<Settings> parse_settings(const EnvLookup& env);

// TLS_PROTOCOL: "" (TLS 1.2 and 1.3), Courier's "TLSv1.2", "TLSv1.2+",
// "TLSv1.2++" (1.2 and up), "TLSv1.3", "TLSv1.3+" (1.3 only), also without the
// "v" and in any case. Older names (TLSv1.1, TLSv1, TLS1, SSL3, SSL23) give 1.2
// and up with a warning in *warning. nullopt: not a protocol name.
std::optional<ProtocolRange> parse_protocol(std::string_view text, std::string* warning);

// TLS_VERIFYPEER: NONE, PEER, REQUIREPEER in any case. Courier looks only at the
// first letter; a value that only starts with N, P or R is read the same way with
// a warning. nullopt: none of these.
std::optional<VerifyPeer> parse_verify_peer(std::string_view text, std::string* warning);

// TLS_ALPN: protocol names separated by commas and/or blanks; names starting with
// "@" (GnuTLS options in Courier) are skipped. Each name is 1..255 bytes of
// printable ASCII. Errors name the offending entry.
lib::Result<std::vector<std::string>> parse_alpn(std::string_view text);
// The ALPN protocol list in wire format (RFC 7301 section 3.1): each name
// preceded by its length byte.
std::string alpn_wire_format(const std::vector<std::string>& names);

// The suffix of a per-address certificate ($TLS_CERTFILE.<suffix>) for TCPLOCALIP:
// the address itself, an IPv4-mapped IPv6 address (::ffff:1.2.3.4) reduced to the
// dotted IPv4 form, as Courier does. nullopt when the text is not an IP address.
std::optional<std::string> local_ip_suffix(std::string_view tcplocalip);

// The suffix of a per-name certificate ($TLS_CERTFILE.<suffix>) for an SNI host
// name sent by a client: the name in lower case, "/" replaced by "." as Courier
// does. nullopt for anything that is not a plain host name (empty, longer than
// 253 bytes, characters other than letters, digits, "-", "_" and ".", a leading
// dot or an empty label), so that a hostile name can never reach another file.
std::optional<std::string> servername_suffix(std::string_view servername);

// A printable name for log lines: "TLSv1.3" for tls13_version, etc.
std::string protocol_name(int version);

}  // namespace tls
