// tests/fuzz/fuzz_imap_url.cpp: libFuzzer target for IMAP URLs
// (imapd/imap_url, RFC 5092) and CATENATE's part list (imapd/catenate,
// RFC 4469). Invariants: a parsed URL names a nonzero UID and a non-empty
// mailbox; its URLAUTH rump is a prefix of the input; a rump parses again to
// the same URL without mechanism and token. CATENATE parts come from a
// lexed APPEND command built around the input and view into it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "imapd/catenate.hpp"
#include "imapd/imap_url.hpp"
#include "imapd/lexer.hpp"
#include "tests/fuzz/invariant_check.hpp"

namespace {

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (auto url = imapd::parse_imap_url(in, error)) {
    CHECK(url->uid != 0);
    CHECK(!url->mailbox.empty());
    if (url->has_urlauth) {
      CHECK(in.substr(0, url->rump.size()) == url->rump);
      auto again = imapd::parse_imap_url(url->rump, error);
      CHECK(again);
      CHECK(again->mechanism.empty() && again->rump == url->rump && again->uid == url->uid &&
            again->mailbox == url->mailbox && again->section == url->section);
    }
    (void)imapd::url_names_account(*url, "user@example.test");
  } else {
    CHECK(!error.empty());
  }
  const std::string cmd = "a APPEND INBOX CATENATE (" + std::string(in) + ")\r\n";
  imapd::ParsedCommand c = imapd::parse_command(cmd);
  if (c.ok() && !c.args.empty()) {
    if (auto parts = imapd::parse_catenate(c.args.back(), error)) {
      CHECK(!parts->empty() && parts->size() <= imapd::max_catenate_parts);
      for (const auto& p : *parts)
        if (!p.url && !p.data.empty())
          CHECK(p.data.data() >= cmd.data() && p.data.data() + p.data.size() <= cmd.data() + cmd.size());
    }
  }
  return 0;
}
