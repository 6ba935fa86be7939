// tests/fuzz/fuzz_courierd.cpp: what courieresmtp parses from remote servers (SMTP
// replies, EHLO capabilities) and what courierd parses from the admin (esmtproutes,
// esmtpauthclient). Invariants: no crash, no hang; a parsed reply has a code in
// 200..599 and at most smtp_reply_max_lines lines; every route matches itself; every
// error names its origin.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "courierd/routes.hpp"
#include "courierd/smtp_reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // SMTP replies: one line at a time, as courieresmtp feeds them.
  courierd::SmtpReplyParser parser;
  size_t pos = 0;
  while (pos < input.size()) {
    auto nl = input.find('\n', pos);
    std::string_view line = input.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? input.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (parser.feed(line) == courierd::SmtpReplyParser::Step::done) {
      const auto& r = parser.reply();
      if (r.code < 200 || r.code > 599 || r.lines.size() > courierd::smtp_reply_max_lines) std::abort();
      if (r.status().size() < 5) std::abort();
      (void)courierd::parse_ehlo(r);
      (void)r.text();
    }
  }
  // esmtproutes and esmtpauthclient.
  auto routes = courierd::parse_routes(input, "fuzz");
  if (routes) {
    for (const auto& r : *routes) {
      if (r.port < 1 || r.port > 65535) std::abort();
      if (!r.domain.empty() && r.domain[0] != '.' && !courierd::find_route(*routes, r.domain)) std::abort();
    }
  } else if (routes.error().message.find("fuzz") == std::string::npos) {
    std::abort();
  }
  auto auth = courierd::parse_auth_client(input, "fuzz");
  if (!auth && auth.error().message.find("fuzz") == std::string::npos) std::abort();
  return 0;
}
