// tests/fuzz/fuzz_tcpd_lookup_result.cpp: the result format couriertcpd's
// root daemon reads from its unprivileged lookup helper
// (tcpd/lookup_result.hpp), on arbitrary bytes, as a compromised helper
// could send them. Invariants: no crash, no hang; an accepted result has
// valid host names, bounded values, at most lookup_result_max_a A records per
// option, and encodes back to a text that parses to the same values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tcpd/lookup_result.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (size_t blocklists : {size_t{0}, size_t{3}}) {
    auto r = tcpd::parse_lookup_result(text, blocklists, nullptr);
    if (!r) continue;
    if (r->answers.size() != blocklists) std::abort();
    if (r->remote_host && !tcpd::valid_host_name(*r->remote_host)) std::abort();
    if (r->local_host && !tcpd::valid_host_name(*r->local_host)) std::abort();
    if (r->ident && r->ident->size() > 512) std::abort();
    for (const auto& a : r->answers) {
      if (!a) continue;
      if (a->a.size() > tcpd::lookup_result_max_a || a->txt.size() > 1) std::abort();
      for (const auto& t : a->txt)
        if (t.size() > tcpd::dns_max_txt_bytes) std::abort();
    }
    auto again = tcpd::parse_lookup_result(tcpd::encode_lookup_result(*r), blocklists, nullptr);
    if (!again || again->remote_host != r->remote_host || again->local_host != r->local_host ||
        again->ident != r->ident || again->proxy != r->proxy)
      std::abort();
  }
  return 0;
}
