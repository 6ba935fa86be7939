// tests/fuzz/fuzz_imap_crlf.cpp: imapd's chunked LF -> CRLF converter
// (imapd/body_stream.hpp) must give, for any split of any input, the same
// bytes and size as converting the whole buffer at once (the reference
// below: each LF not preceded by CR becomes CRLF, bare CRs stay).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "imapd/body_stream.hpp"

namespace {

std::string reference(std::string_view raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) out.push_back('\r');
    out.push_back(raw[i]);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte chooses the chunk lengths (1..16, cycling); the rest is the message.
  const unsigned seed = data[0];
  const std::string_view raw(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string want = reference(raw);
  imapd::CrlfConverter conv, meas;
  std::string got;
  std::uint64_t measured = 0;
  unsigned step = seed;
  for (std::size_t i = 0; i < raw.size();) {
    const std::size_t n = 1 + (step % 16);
    step = step * 33 + 7;
    const std::string_view piece = raw.substr(i, n);
    conv.convert(piece, got);
    measured += meas.measure(piece);
    i += piece.size();
  }
  if (got != want || measured != want.size()) std::abort();
  return 0;
}
