// imapd/cmd_context.cpp: CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 4):
// SEARCH/SORT RETURN (UPDATE) results the server keeps up to date with
// ESEARCH ADDTO/REMOVEFROM after each command, and CANCELUPDATE. PARTIAL and
// CONTEXT (a hint, accepted) are handled with the other RETURN options in
// imapd/search.cpp and cmd_search.cpp.
#include <algorithm>
#include <iterator>
#include <string>

#include "imapd/replies.hpp"
#include "imapd/session.hpp"

namespace imapd {

// A result the client follows.
struct Session::SearchUpdate {
  std::string tag;
  bool uid = false;
  std::optional<SortProgram> sort;  // SORT: positions matter
  SearchProgram search;
  std::vector<std::uint32_t> result;  // UIDs in result order
  // The mailbox as last evaluated: every flag change, new message and
  // expunge raises the highest modseq, so an unchanged pair means the
  // result cannot have changed (no re-run of a body search per command).
  std::uint64_t highest_modseq = 0;
  std::size_t count = 0;
};

// More than this many followed results would let a client make every command
// re-run unbounded searches.
static constexpr std::size_t max_search_updates = 16;

std::vector<std::uint32_t> Session::selected_uids() const {
  std::vector<std::uint32_t> out;
  if (!mailbox_) return out;
  out.reserve(mailbox_->count());
  for (const auto& m : mailbox_->messages()) out.push_back(m.uid);
  return out;
}

void Session::remember_search_update(const std::string& tag, bool uid, const SortProgram* sort,
                                     const SearchProgram& search, const std::vector<std::uint32_t>& result_uids) {
  auto u = std::make_shared<SearchUpdate>();
  u->tag = tag;
  u->uid = uid;
  if (sort) u->sort = *sort;
  u->search = search;
  u->result = result_uids;
  if (mailbox_) mailbox_->keep_modseqs_current();  // flag changes show as a higher modseq
  u->highest_modseq = mailbox_ ? mailbox_->highest_modseq() : 0;
  u->count = mailbox_ ? mailbox_->count() : 0;
  std::erase_if(search_updates_, [&](const auto& x) { return x->tag == tag; });
  if (search_updates_.size() >= max_search_updates) search_updates_.erase(search_updates_.begin());
  search_updates_.push_back(std::move(u));
}

void Session::context_updates(const std::vector<std::uint32_t>& uids_before) {
  if (!mailbox_) return;
  Mailbox& mb = *mailbox_;
  // The number the client knows a message by: its UID, or its sequence
  // number (for a message expunged by this command, the one it had before).
  auto number = [&](const SearchUpdate& u, std::uint32_t uid) -> std::uint32_t {
    if (u.uid) return uid;
    if (std::uint32_t s = mb.seq_of_uid(uid)) return s;
    auto it = std::lower_bound(uids_before.begin(), uids_before.end(), uid);
    return it != uids_before.end() && *it == uid ? static_cast<std::uint32_t>(it - uids_before.begin() + 1) : 0;
  };
  for (auto& up : search_updates_) {
    SearchUpdate& u = *up;
    if (u.highest_modseq == mb.highest_modseq() && u.count == mb.count()) continue;
    u.highest_modseq = mb.highest_modseq();
    u.count = mb.count();
    std::vector<std::uint32_t> now;
    if (u.sort) {
      for (std::size_t i : sort_matches_in_selected(*u.sort)) now.push_back(mb.messages()[i].uid);
    } else {
      for (std::size_t i : search_matches_in_selected(u.search)) now.push_back(mb.messages()[i].uid);
    }
    if (now == u.result) continue;
    std::vector<std::uint32_t> old_sorted(u.result), now_sorted(now);
    std::sort(old_sorted.begin(), old_sorted.end());
    std::sort(now_sorted.begin(), now_sorted.end());
    std::vector<std::uint32_t> removed, added;
    std::set_difference(old_sorted.begin(), old_sorted.end(), now_sorted.begin(), now_sorted.end(),
                        std::back_inserter(removed));
    std::set_difference(now_sorted.begin(), now_sorted.end(), old_sorted.begin(), old_sorted.end(),
                        std::back_inserter(added));
    const std::string head = "* ESEARCH (TAG \"" + u.tag + "\")" + (u.uid ? " UID" : "");
    std::string out;
    if (!u.sort) {
      // SEARCH results are sets: position 0 (RFC 5267 4.3 leaves it to the
      // server for unsorted results).
      auto numbers = [&](const std::vector<std::uint32_t>& uids) {
        std::vector<std::uint32_t> n;
        for (std::uint32_t x : uids)
          if (std::uint32_t k = number(u, x)) n.push_back(k);
        std::sort(n.begin(), n.end());
        return format_numbers(n);
      };
      if (!removed.empty()) out += head + " REMOVEFROM (0 " + numbers(removed) + ")\r\n";
      if (!added.empty()) out += head + " ADDTO (0 " + numbers(added) + ")\r\n";
    } else {
      // SORT: each change at its position, removals first (positions in the
      // list as it shrinks), then additions in ascending position of the new
      // order; the common messages keep their relative order (sort keys do
      // not change), so the client's list ends equal to `now`.
      std::vector<std::uint32_t> cur = u.result;
      for (std::uint32_t x : removed) {
        auto it = std::find(cur.begin(), cur.end(), x);
        if (it == cur.end()) continue;
        std::uint32_t k = number(u, x);
        out += head + " REMOVEFROM (" + std::to_string(it - cur.begin() + 1) + " " + std::to_string(k) + ")\r\n";
        cur.erase(it);
      }
      for (std::size_t pos = 0; pos < now.size(); ++pos) {
        if (!std::binary_search(added.begin(), added.end(), now[pos])) continue;
        out += head + " ADDTO (" + std::to_string(pos + 1) + " " + std::to_string(number(u, now[pos])) + ")\r\n";
      }
    }
    u.result = std::move(now);
    emit(out);
  }
}

Completion Session::cmd_cancelupdate(const ParsedCommand& c) {
  if (c.args.empty()) return {"BAD", "Syntax: CANCELUPDATE \"tag\" ..."};
  for (const auto& a : c.args)
    if (!a.is_string()) return {"BAD", "Syntax: CANCELUPDATE \"tag\" ..."};
  for (const auto& a : c.args) std::erase_if(search_updates_, [&](const auto& x) { return x->tag == a.str(); });
  return {"OK", reply::completed("CANCELUPDATE")};
}

}  // namespace imapd
