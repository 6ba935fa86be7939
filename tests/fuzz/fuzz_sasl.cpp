// tests/fuzz/fuzz_sasl.cpp: the SASL and authdaemon parsers every login
// service and authdaemond run on what a client sent (authlib/sasl.hpp,
// authlib/protocol.hpp). Invariants: decoded base64 re-encodes to the input;
// a parsed PLAIN message re-encodes (base64) to the same bytes; a parsed AUTH payload
// builds back to a payload that parses the same; an account reply that
// parses formats to one that parses to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "authlib/protocol.hpp"
#include "authlib/sasl.hpp"

using namespace authlib;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto decoded = sasl::decode_base64(input))
    if (sasl::encode_base64(*decoded) != input) std::abort();
  (void)sasl::decode_hex(input);
  (void)sasl::decode_initial_response(input);

  if (auto plain = sasl::parse_plain(input)) {
    auto rebuilt = sasl::encode_plain(plain->authzid, plain->authcid, plain->password);  // base64
    if (!rebuilt) std::abort();
    auto raw = sasl::decode_base64(rebuilt->reveal());
    if (!raw || *raw != input) std::abort();
  }
  (void)sasl::parse_external(input);
  for (auto hash : {sasl::CramHash::md5, sasl::CramHash::sha1, sasl::CramHash::sha256})
    (void)sasl::parse_cram_response(hash, "<1.2@host>", input);

  sasl::LoginExchange login;
  for (size_t start = 0; start <= input.size() && !login.done();) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    if (!login.respond(input.substr(start, end - start))) break;
    start = end + 1;
  }

  if (auto payload = sasl::parse_auth_payload(input)) {
    auto built = sasl::build_auth_payload(*payload);
    if (!built) std::abort();
    auto again = sasl::parse_auth_payload(built->reveal());
    if (!again || again->service != payload->service) std::abort();
  }

  (void)protocol::parse_line(input);
  if (auto account = protocol::parse_account_reply(input)) {
    auto again = protocol::parse_account_reply(protocol::format_account(*account));
    if (!again || again->uid != account->uid || again->gid != account->gid) std::abort();
  }
  (void)protocol::parse_enumerate_line(input);
  return 0;
}
