// imapd/cmd_condstore.cpp: the session side of CONDSTORE and QRESYNC (RFC
// 7162): ENABLE, the CONDSTORE-enabling commands' "* OK [HIGHESTMODSEQ]",
// SELECT's HIGHESTMODSEQ and QRESYNC resynchronization, VANISHED (EARLIER).
// The mod-sequences themselves live in imapd/modseq.hpp's store, kept by the
// Mailbox (imapd/mailbox_modseq.cpp).
#include <algorithm>
#include <cctype>
#include <string>

#include "imapd/condstore.hpp"
#include "imapd/session.hpp"

namespace imapd {

bool Session::enable_extension(std::string_view name) {
  auto eq = [&](std::string_view w) {
    return name.size() == w.size() &&
           std::equal(name.begin(), name.end(), w.begin(),
                      [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; });
  };
  if (eq("CONDSTORE")) {
    condstore_used();
    return true;
  }
  if (eq("QRESYNC")) {
    condstore_used();  // QRESYNC implies CONDSTORE (RFC 7162 3.2.3)
    qresync_enabled_ = true;
    if (mailbox_) mailbox_->set_qresync(true);
    return true;
  }
  if (eq("IMAP4REV2")) {  // RFC 9051 (imapd/cmd_rev2.cpp)
    rev2_ = true;
    if (mailbox_) mailbox_->set_rev2(true);
    return true;
  }
  if (eq("UTF8=ACCEPT")) {  // RFC 6855 3 (UTF8=ONLY is not offered)
    utf8_enabled_ = true;
    return true;
  }
  return false;
}

void Session::condstore_used() {
  if (condstore_enabled_) return;
  condstore_enabled_ = true;
  if (!mailbox_) return;
  mailbox_->set_condstore(true);
  // RFC 7162 3.1: the first CONDSTORE-enabling command in the selected
  // state tells the client the mailbox's HIGHESTMODSEQ.
  emit("* OK [HIGHESTMODSEQ " + std::to_string(mailbox_->highest_modseq()) + "] Highest\r\n");
}

std::string Session::vanished_earlier(const SequenceSet* set, std::uint64_t modseq) {
  Mailbox& mb = *mailbox_;
  std::uint32_t top = mb.uidnext() > 1 ? mb.uidnext() - 1 : 0;
  std::vector<SeqRange> ranges = set ? set->resolve(top) : std::vector<SeqRange>{};
  if (!set && top > 0) ranges.push_back({1, top});
  std::vector<std::uint32_t> candidates;
  for (const auto& r : ranges)
    for (std::uint64_t u = r.first; u <= r.last; ++u) candidates.push_back(static_cast<std::uint32_t>(u));
  auto gone = mb.vanished_since(modseq, candidates);
  if (gone.empty()) return {};
  return "* VANISHED (EARLIER) " + format_numbers(gone) + "\r\n";
}

std::string Session::select_modseq_responses(const SelectParams& params) {
  Mailbox& mb = *mailbox_;
  std::string out = "* OK [HIGHESTMODSEQ " + std::to_string(mb.highest_modseq()) + "] Highest\r\n";
  if (!params.qresync || params.qresync->uidvalidity != mb.uidvalidity()) return out;
  // RFC 7162 3.2.5: what the client missed since its modseq, limited to the
  // UIDs it knows: expunges first, then the flags of changed messages.
  const QresyncParams& q = *params.qresync;
  const SequenceSet* known = q.known_uids ? &*q.known_uids : nullptr;
  out += vanished_earlier(known, q.modseq);
  std::uint32_t top = mb.count() ? mb.messages().back().uid : 0;
  for (std::size_t i = 0; i < mb.count(); ++i) {
    const MessageState& m = mb.messages()[i];
    if (m.vanished || m.modseq <= q.modseq) continue;
    if (known && !known->contains(m.uid, top)) continue;
    out += "* " + std::to_string(i + 1) + " FETCH (UID " + std::to_string(m.uid) + " FLAGS " + mb.flag_list(m) +
           " MODSEQ (" + std::to_string(m.modseq) + "))\r\n";
  }
  return out;
}

}  // namespace imapd
