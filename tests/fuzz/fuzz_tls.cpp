// tests/fuzz/fuzz_tls.cpp: the TLS layer's parsers on arbitrary bytes: PEM
// normalisation and splitting (tls/pem.hpp), the settings parser and its
// helpers (tls/settings.hpp), the ticket-key file parser. Invariants: no
// crash, no hang; normalisation is idempotent and leaves no CR; every block
// split_pem returns starts with its BEGIN line and ends with the matching END
// line; a servername suffix never contains "/" or ".."; errors name the origin.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "tls/pem.hpp"
#include "tls/settings.hpp"
#include "tls/ticket_keys.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string normalized = tls::normalize_pem_text(input);
  if (normalized.find('\r') != std::string::npos) std::abort();
  if (tls::normalize_pem_text(normalized) != normalized) std::abort();
  auto blocks = tls::split_pem(normalized, "fuzz.pem");
  if (!blocks) {
    if (blocks.error().message.find("fuzz.pem") == std::string::npos) std::abort();
  } else {
    if (blocks->empty() || blocks->size() > tls::max_pem_blocks) std::abort();
    for (const auto& b : *blocks) {
      if (b.text.rfind("-----BEGIN " + b.label + "-----\n", 0) != 0) std::abort();
      std::string end = "-----END " + b.label + "-----\n";
      if (b.text.size() < end.size() || b.text.compare(b.text.size() - end.size(), end.size(), end) != 0) std::abort();
    }
  }
  (void)tls::parse_ticket_keys(input);

  // The same bytes as settings: split into NAME=value lines.
  std::map<std::string, std::string> env;
  size_t pos = 0;
  while (pos < input.size() && env.size() < 32) {
    size_t eol = input.find('\n', pos);
    std::string_view line = input.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? input.size() : eol + 1;
    size_t eq = line.find('=');
    if (eq != std::string_view::npos) env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  auto settings = tls::parse_settings([&](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
  if (settings) {
    if (settings->min_dh_bits < tls::min_dh_bits_floor) std::abort();
    if (settings->protocols.min_version < tls::tls12_version) std::abort();
    if (settings->alpn.size() > tls::max_alpn_protocols) std::abort();
  }
  auto suffix = tls::servername_suffix(input);
  if (suffix && (suffix->find('/') != std::string::npos || suffix->find("..") != std::string::npos ||
                 suffix->empty() || (*suffix)[0] == '.')) {
    std::abort();
  }
  (void)tls::local_ip_suffix(input);
  return 0;
}
