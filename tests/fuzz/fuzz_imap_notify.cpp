// tests/fuzz/fuzz_imap_notify.cpp: libFuzzer target for NOTIFY's arguments
// (imapd/notify, RFC 5465) lexed from a command built around the input.
// Invariants: a failure has a reason; a request is NONE with no groups or SET
// with at least one; only subtree/mailboxes groups have (non-empty) names;
// fetch attributes only on selected filters, written as a parenthesised list;
// a filter's events match notify_events_for for a mailbox it names first.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "imapd/lexer.hpp"
#include "imapd/notify.hpp"
#include "tests/fuzz/invariant_check.hpp"

namespace {

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text = "t NOTIFY " + std::string(reinterpret_cast<const char*>(data), size);
  imapd::ParsedCommand c = imapd::parse_command(text);
  if (!c.ok()) return 0;
  auto p = imapd::parse_notify(c.args);
  if (!p.request) {
    CHECK(!p.error.empty());
    return 0;
  }
  const auto& r = *p.request;
  if (r.none) {
    CHECK(r.groups.empty() && !r.status);
    return 0;
  }
  CHECK(!r.groups.empty());
  using K = imapd::NotifyGroup::Kind;
  for (const auto& g : r.groups) {
    bool named = g.kind == K::subtree || g.kind == K::mailboxes;
    CHECK(named == !g.names.empty());
    CHECK(g.events < 32);
    if (!g.fetch_atts.empty()) {
      CHECK(g.kind == K::selected || g.kind == K::selected_delayed);
      CHECK(g.fetch_atts.front() == '(' && g.fetch_atts.back() == ')');
      CHECK(g.events & imapd::notify_event::message_new);
    }
  }
  for (const auto& g : r.groups) {
    if (g.kind != K::mailboxes) continue;
    // The first non-selected filter decides: if nothing before it matches
    // everything, its first name gets its events or an earlier filter's.
    unsigned ev = imapd::notify_events_for(r, g.names[0], false);
    bool earlier = false;
    for (const auto& h : r.groups) {
      if (&h == &g) break;
      if (h.kind != K::selected && h.kind != K::selected_delayed && h.kind != K::subscribed) earlier = true;
    }
    if (!earlier) CHECK(ev == g.events);
    break;
  }
  return 0;
}
