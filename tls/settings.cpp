// tls/settings.cpp: see settings.hpp.
#include "tls/settings.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <charconv>
#include <cstdlib>

#include "lib/config.hpp"
#include "lib/log.hpp"

namespace tls {

namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// A value quoted in a message: control characters escaped, cut to a sane length.
std::string safe(std::string_view text) { return lib::log::sanitize(text, 200); }

std::string get(const EnvLookup& env, std::string_view name) {
  auto value = env(name);
  return value ? std::string(trim(*value)) : std::string();
}

}  // namespace

EnvLookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (!value) return std::nullopt;
    return std::string(value);
  };
}

std::optional<ProtocolRange> parse_protocol(std::string_view text, std::string* warning) {
  std::string name = upper(trim(text));
  // "TLSV1.2" and "TLS1.2" are the same name; Courier's "+" and "++" suffixes only
  // add options (server cipher preference, no renegotiation) that we always set.
  if (name.rfind("TLSV", 0) == 0) name.erase(3, 1);
  while (!name.empty() && name.back() == '+') name.pop_back();
  if (name.empty() || name == "TLS1.2") return ProtocolRange{tls12_version, tls13_version};
  if (name == "TLS1.3") return ProtocolRange{tls13_version, tls13_version};
  static constexpr std::string_view old_names[] = {"TLS1.1", "TLS1", "TLS1.0", "SSL3", "SSL23", "SSL2"};
  for (auto old : old_names) {
    if (name == old) {
      if (warning) {
        *warning = "TLS_PROTOCOL=" + std::string(trim(text)) +
                   " asks for a protocol older than TLS 1.2, which is always refused; TLS 1.2 and 1.3 "
                   "are used. Set TLS_PROTOCOL=TLSv1.2+ (or remove it) to silence this warning";
      }
      return ProtocolRange{tls12_version, tls13_version};
    }
  }
  return std::nullopt;
}

std::optional<VerifyPeer> parse_verify_peer(std::string_view text, std::string* warning) {
  std::string value = upper(trim(text));
  if (value == "NONE") return VerifyPeer::none;
  if (value == "PEER") return VerifyPeer::peer;
  if (value == "REQUIREPEER") return VerifyPeer::require_peer;
  std::optional<VerifyPeer> result;
  if (!value.empty()) {
    switch (value[0]) {
      case 'N': result = VerifyPeer::none; break;
      case 'P': result = VerifyPeer::peer; break;
      case 'R': result = VerifyPeer::require_peer; break;
      default: break;
    }
  }
  if (result && warning) {
    static constexpr const char* names[] = {"NONE", "PEER", "REQUIREPEER"};
    *warning = "TLS_VERIFYPEER=" + std::string(trim(text)) + " is read as " +
               names[static_cast<int>(*result)] + " (Courier looks only at the first letter); write " +
               names[static_cast<int>(*result)] + " to silence this warning";
  }
  return result;
}

lib::Result<std::vector<std::string>> parse_alpn(std::string_view text) {
  std::vector<std::string> names;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < text.size() && text[i] != ',' && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view name = text.substr(start, i - start);
    if (name[0] == '@') continue;  // GnuTLS-only flags in Courier's syntax
    if (name.size() > 255) {
      return lib::permanent_error("TLS_ALPN: the protocol name \"" + std::string(name.substr(0, 40)) +
                                  "...\" is longer than 255 bytes (RFC 7301 section 3.1); use the "
                                  "registered names, e.g. TLS_ALPN=imap");
    }
    for (char n : name) {
      if (static_cast<unsigned char>(n) < 0x21 || static_cast<unsigned char>(n) > 0x7e) {
        return lib::permanent_error("TLS_ALPN: the protocol name \"" + safe(name) +
                                    "\" has a character that is not printable ASCII; use the "
                                    "registered names, e.g. TLS_ALPN=imap");
      }
    }
    if (names.size() >= max_alpn_protocols) {
      return lib::permanent_error("TLS_ALPN lists more than " + std::to_string(max_alpn_protocols) +
                                  " protocols; a service needs one or two (e.g. TLS_ALPN=imap)");
    }
    names.emplace_back(name);
  }
  return names;
}

std::string alpn_wire_format(const std::vector<std::string>& names) {
  std::string wire;
  for (const auto& name : names) {
    wire.push_back(static_cast<char>(static_cast<unsigned char>(name.size())));
    wire += name;
  }
  return wire;
}

std::optional<std::string> local_ip_suffix(std::string_view tcplocalip) {
  std::string ip(trim(tcplocalip));
  if (ip.empty() || ip.size() > 64) return std::nullopt;
  if (ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos) ip.erase(0, 7);
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return ip;
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return ip;
  return std::nullopt;
}

std::optional<std::string> servername_suffix(std::string_view servername) {
  if (servername.empty() || servername.size() > max_servername_bytes) return std::nullopt;
  std::string name;
  name.reserve(servername.size());
  for (char c : servername) {
    if (c == '/') c = '.';  // Courier's rule; the label checks below then apply
    unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '-' || c == '_' || c == '.')) return std::nullopt;
    name.push_back(static_cast<char>(std::tolower(u)));
  }
  if (name.front() == '.' || name.find("..") != std::string::npos) return std::nullopt;
  if (name.back() == '.') name.pop_back();  // "example.com." is the same host
  if (name.empty()) return std::nullopt;
  return name;
}

std::string protocol_name(int version) {
  switch (version) {
    case 0x0300: return "SSLv3";
    case 0x0301: return "TLSv1";
    case 0x0302: return "TLSv1.1";
    case tls12_version: return "TLSv1.2";
    case tls13_version: return "TLSv1.3";
    default: return "unknown";
  }
}

lib::Result<Settings> parse_settings(const EnvLookup& env) {
  Settings s;

  std::string protocol = get(env, "TLS_PROTOCOL");
  std::string warning;
  auto range = parse_protocol(protocol, &warning);
  if (!range) {
    return lib::permanent_error("TLS_PROTOCOL=" + safe(protocol) +
                                " is not a protocol this server knows: use TLSv1.2+ (TLS 1.2 and 1.3, "
                                "the default) or TLSv1.3 (TLS 1.3 only)");
  }
  s.protocols = *range;
  if (!warning.empty()) s.warnings.push_back(warning);

  if (env("TLS_PRIORITY") && !get(env, "TLS_PRIORITY").empty()) {
    s.warnings.push_back(
        "TLS_PRIORITY is a GnuTLS setting and is ignored here: use TLS_PROTOCOL (e.g. TLSv1.2+) and "
        "TLS_CIPHER_LIST (OpenSSL's cipher list syntax) instead");
  }

  s.cipher_list = get(env, "TLS_CIPHER_LIST");
  s.certfile = get(env, "TLS_CERTFILE");
  s.private_keyfile = get(env, "TLS_PRIVATE_KEYFILE");
  s.dhparams = get(env, "TLS_DHPARAMS");
  s.trustcerts = get(env, "TLS_TRUSTCERTS");
  s.cachefile = get(env, "TLS_CACHEFILE");

  std::string min_dh = get(env, "TLS_MIN_DH_BITS");
  if (!min_dh.empty()) {
    int bits = 0;
    auto [ptr, ec] = std::from_chars(min_dh.data(), min_dh.data() + min_dh.size(), bits);
    if (ec != std::errc() || ptr != min_dh.data() + min_dh.size() || bits <= 0 || bits > 16384) {
      return lib::permanent_error("TLS_MIN_DH_BITS=" + safe(min_dh) +
                                  " is not a number of bits between 1 and 16384: use e.g. "
                                  "TLS_MIN_DH_BITS=2048");
    }
    if (bits < min_dh_bits_floor) {
      s.warnings.push_back("TLS_MIN_DH_BITS=" + min_dh + " is below " + std::to_string(min_dh_bits_floor) +
                           ", the smallest DH group this server accepts; " +
                           std::to_string(min_dh_bits_floor) + " is used");
      bits = min_dh_bits_floor;
    }
    s.min_dh_bits = bits;
  }

  std::string cachesize = get(env, "TLS_CACHESIZE");
  if (!cachesize.empty()) {
    long long size = 0;
    auto [ptr, ec] = std::from_chars(cachesize.data(), cachesize.data() + cachesize.size(), size);
    if (ec != std::errc() || ptr != cachesize.data() + cachesize.size() || size < 0) {
      s.warnings.push_back("TLS_CACHESIZE=" + safe(cachesize) +
                           " is not a number; it is not needed here anyway (sessions resume with "
                           "tickets whose keys live in TLS_CACHEFILE): remove it");
    }
  }

  std::string verify = get(env, "TLS_VERIFYPEER");
  if (!verify.empty()) {
    std::string verify_warning;
    auto level = parse_verify_peer(verify, &verify_warning);
    if (!level) {
      return lib::permanent_error("TLS_VERIFYPEER=" + safe(verify) +
                                  " is not NONE, PEER or REQUIREPEER: use NONE (no client "
                                  "certificates), PEER (optional) or REQUIREPEER (required)");
    }
    if (!verify_warning.empty()) s.warnings.push_back(verify_warning);
    s.verify_peer = *level;
    s.verify_peer_set = true;
  }
  if (s.verify_peer != VerifyPeer::none && s.trustcerts.empty()) {
    return lib::permanent_error("TLS_VERIFYPEER=" + verify +
                                " checks client certificates against TLS_TRUSTCERTS, which is not set: "
                                "set TLS_TRUSTCERTS to the PEM file (or c_rehash'ed directory) of the "
                                "certificate authorities you trust, or set TLS_VERIFYPEER=NONE");
  }

  auto alpn = parse_alpn(get(env, "TLS_ALPN"));
  if (!alpn) return alpn.error();
  s.alpn = std::move(alpn.value());

  std::string timeout = get(env, "TLS_HANDSHAKE_TIMEOUT");
  if (!timeout.empty()) {
    auto seconds = lib::parse_duration(timeout);
    if (!seconds || seconds->count() <= 0 || seconds->count() > 3600) {
      s.warnings.push_back("TLS_HANDSHAKE_TIMEOUT=" + safe(timeout) +
                           " is not a time between 1 second and 1 hour (e.g. 60 or 2m); 60 seconds "
                           "are used");
    } else {
      s.handshake_timeout = *seconds;
    }
  }

  std::string local_ip = get(env, "TCPLOCALIP");
  if (!local_ip.empty()) {
    auto suffix = local_ip_suffix(local_ip);
    if (suffix) s.local_ip = *suffix;
  }
  std::string remote_ip = get(env, "TCPREMOTEIP");
  if (local_ip_suffix(remote_ip)) s.remote_ip = remote_ip;
  return s;
}

}  // namespace tls
