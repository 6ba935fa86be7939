// tests/fuzz/fuzz_login_handover.cpp: the hand-over a login child (mail user)
// sends its root parent (authlib/login_handover.hpp), parsed as root.
// Invariants: what parses stays within the limits and encodes to bytes that
// parse to the same hand-over.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "authlib/login_handover.hpp"

using namespace authlib::login;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto h = parse(input);
  if (!h) return 0;
  if (h->ticket.size() != max_ticket_bytes || h->pipelined.size() > max_pipelined_bytes ||
      h->tag.size() > max_tag_bytes || h->tls_environment.size() > max_tls_variables)
    std::abort();
  auto again = parse(encode(*h));
  if (!again || again->ticket != h->ticket || again->tag != h->tag || again->method != h->method ||
      again->utf8 != h->utf8 || again->starttls != h->starttls || again->tls_environment != h->tls_environment ||
      again->pipelined != h->pipelined)
    std::abort();
  return 0;
}
