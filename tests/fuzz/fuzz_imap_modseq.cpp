// tests/fuzz/fuzz_imap_modseq.cpp: imapd's parser of its imapd-modseq files
// (imapd/modseq.hpp) on arbitrary bytes, with a format/parse round trip, and
// the CONDSTORE/QRESYNC command parameters (imapd/condstore.hpp) on the same
// bytes taken as a command.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "imapd/condstore.hpp"
#include "imapd/lexer.hpp"
#include "imapd/modseq.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto db = imapd::parse_modseq_db(in, "fuzz");
  if (db.ok()) {
    auto again = imapd::parse_modseq_db(imapd::format_modseq_db(*db), "fuzz");
    if (!again.ok() || again->highest != db->highest || again->live.size() != db->live.size() ||
        again->expunged != db->expunged)
      __builtin_trap();
    // Without the expunges: the same messages (the highest may miss an X
    // record above what its skipped block's "S" line says).
    auto quick = imapd::parse_modseq_db(in, "fuzz", false);
    if (!quick.ok() || quick->highest > db->highest || quick->live.size() != db->live.size()) __builtin_trap();
    std::uint64_t before = db->highest;
    imapd::apply_modseq_observations(*db, {{1, 2}, {3, 4}}, true, {}, {5}, 0);
    if (db->highest < before) __builtin_trap();  // never goes back
    // The change appended to the rewritten file reads back as the changed store.
    std::string journal = imapd::format_modseq_db(*again) + imapd::format_modseq_changes(*db, before) + "C " +
                          std::to_string(db->highest) + "\n";
    auto replayed = imapd::parse_modseq_db(journal, "fuzz");
    if (!replayed.ok() || replayed->highest != db->highest || replayed->live.size() != db->live.size() ||
        !replayed->appendable)
      __builtin_trap();
    for (const auto& [uid, e] : db->live) {
      auto it = replayed->live.find(uid);
      if (it == replayed->live.end() || it->second.modseq != e.modseq || it->second.signature != e.signature)
        __builtin_trap();
    }
  }
  auto cmd = imapd::parse_command(in);
  if (cmd.ok()) {
    std::string error;
    for (const auto& a : cmd.args) {
      (void)imapd::parse_select_params(a, error);
      (void)imapd::parse_fetch_modifiers(a, error);
      (void)imapd::parse_store_modifiers(a, error);
    }
  }
  return 0;
}
