// tests/fuzz/fuzz_smtp_command.cpp: esmtpd's command parser (esmtpd/command.hpp)
// the queue's control-file reader (lib/queue.hpp) and the MX decoding of
// BOFHCHECKDNS (tcpd/dns_message.hpp) on arbitrary bytes.
// Invariants: no crash, no hang; a parsed path never keeps its angle brackets
// and has no CR/LF; a refusal is a whole reply line with its code first; a
// control file that parses formats back to one that parses the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "esmtpd/command.hpp"
#include "lib/queue.hpp"
#include "tcpd/dns_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto cmd = esmtpd::parse_command(input);
  for (auto [prefix, null_ok] : {std::pair{"FROM:", true}, std::pair{"TO:", false}}) {
    auto [path, error] = esmtpd::parse_path_command(cmd.arg, prefix, null_ok);
    if (path.has_value() == error.has_value()) std::abort();
    if (path) {
      if (path->address.find_first_of("\r\n") != std::string::npos && cmd.arg.find_first_of("\r\n") == std::string::npos)
        std::abort();
      if (!null_ok && path->address.empty()) std::abort();
      (void)esmtpd::valid_mailbox(path->address, true);
      for (const auto& p : path->params) (void)esmtpd::xtext_decode(p.value);
    } else if (error->reply.size() < 4 || error->reply.substr(0, 3) != std::to_string(error->code)) {
      std::abort();
    }
  }
  (void)esmtpd::parse_bdat(cmd.arg);
  // BOFHCHECKDNS: MX replies (the first two bytes as the query id).
  uint16_t id = size >= 2 ? static_cast<uint16_t>((data[0] << 8) | data[1]) : 0;
  if (auto mx = tcpd::decode_dns_reply(std::span<const uint8_t>(data, size), id, "example.org", tcpd::dns_type_mx)) {
    if (mx->mx.size() > 16) std::abort();
    if (mx->status == tcpd::DnsAnswer::Status::ok && mx->mx.empty()) std::abort();
  }
  auto env = lib::queue::parse_control(input, "fuzz.ctl");
  if (env) {
    if (!lib::queue::check_envelope(*env)) return 0;
    auto again = lib::queue::parse_control(lib::queue::format_control(*env), "again.ctl");
    if (!again || again->recipients.size() != env->recipients.size() || again->sender != env->sender) std::abort();
  } else if (env.error().message.find("fuzz.ctl:") == std::string::npos) {
    std::abort();
  }
  return 0;
}
