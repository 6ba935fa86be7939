// imapd/cmd_store.cpp: STORE and UID STORE (RFC 3501 6.4.6, 6.4.8): FLAGS,
// +FLAGS, -FLAGS and their .SILENT forms, system flags as Maildir letters and
// keywords in courierimapkeywords.
#include <algorithm>
#include <set>
#include <string>

#include "imapd/keywords.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "imapd/shared_fs.hpp"
#include "lib/log.hpp"

namespace imapd {

Completion Session::cmd_store(const ParsedCommand& c) {
  if (c.args.size() < 3) return {"BAD", "Syntax: STORE sequence-set item flags."};
  auto set = message_set(c.args[0], c.uid);
  if (!set) return {"BAD", std::string(reply::invalid_sequence_set)};
  // RFC 7162 3.1.3: STORE set (UNCHANGEDSINCE n) item flags.
  std::optional<std::uint64_t> unchangedsince;
  std::size_t k = 1;  // the item's position
  if (c.args[1].is_list()) {
    std::string error;
    unchangedsince = parse_store_modifiers(c.args[1], error);
    if (!unchangedsince) return {"BAD", error};
    if (c.args.size() < 4) return {"BAD", "Syntax: STORE sequence-set (UNCHANGEDSINCE n) item flags."};
    k = 2;
  }
  if (!c.args[k].is_atom_like()) return {"BAD", std::string(reply::invalid_store_item)};
  std::string item(c.args[k].text);
  for (auto& ch : item) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  int mode = 0;  // 0 replace, 1 add, -1 remove
  if (!item.empty() && item[0] == '+') mode = 1, item.erase(0, 1);
  else if (!item.empty() && item[0] == '-') mode = -1, item.erase(0, 1);
  bool silent = false;
  if (item == "FLAGS.SILENT") silent = true;
  else if (item != "FLAGS") return {"BAD", "Invalid STORE item (FLAGS, +FLAGS, -FLAGS, .SILENT)."};
  std::vector<const Value*> flags;
  if (c.args.size() == k + 2 && c.args[k + 1].is_list()) {
    for (const auto& f : c.args[k + 1].items) flags.push_back(&f);
  } else {
    for (std::size_t i = k + 1; i < c.args.size(); ++i) flags.push_back(&c.args[i]);
  }
  std::string letters;
  std::set<std::string> keywords;
  for (const Value* f : flags) {
    if (!f->is_atom_like()) return {"BAD", std::string(reply::invalid_flag)};
    std::string_view fl = f->str();
    if (char l = maildir_letter(fl)) {
      letters += l;
    } else if (!fl.empty() && fl[0] == '\\') {
      std::string up(fl);
      for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (up == "\\RECENT") continue;  // cannot be stored; ignored
      return {"BAD", std::string(reply::invalid_system_flag)};
    } else if (valid_keyword(fl)) {
      keywords.emplace(fl);
    } else {
      return {"BAD", std::string(reply::invalid_keyword)};
    }
  }
  Mailbox& mb = *mailbox_;
  if (mb.read_only()) return {"NO", shared_fs::read_only_reply(mb, reply::read_only)};
  {  // RFC 4314 4: \Seen needs "s", \Deleted "t", other flags "w" (FLAGS replaces all)
    std::string needed;
    bool other = !keywords.empty() || letters.find_first_not_of("ST") != std::string::npos;
    if (mode == 0 || letters.find('S') != std::string::npos) needed += 's';
    if (mode == 0 || letters.find('T') != std::string::npos) needed += 't';
    if (mode == 0 || other) needed += 'w';
    if (auto no = refuse_unless_selected(needed)) return *no;
  }
  if (keywords.size() > max_keywords_per_message) return {"NO", "Too many keywords on one message."};
  Mailbox::FlagChange change;
  change.mode = mode == 0 ? Mailbox::FlagChange::Mode::replace
                : mode > 0 ? Mailbox::FlagChange::Mode::add
                           : Mailbox::FlagChange::Mode::remove;
  change.letters = letters;
  change.keywords = keywords;
  // A message whose file another session expunged (its EXPUNGE not yet told
  // to this session) is skipped; the flags of the others are set and the
  // command ends OK [EXPUNGEISSUED]. RFC 2180 4.2.1 says OK for .SILENT;
  // without .SILENT it allows a tagged NO (4.2.2, 4.2.3), but the change
  // was made for every message that still exists, and clients (imaptest's
  // stress mode) take NO for a failed STORE: the response code says why the
  // skipped message has no FETCH response. UNCHANGEDSINCE still reports
  // MODIFIED for existing messages changed since (RFC 7162 3.1.3).
  bool vanished = false;
  // Each change is a delta applied to the flags on disk (not to this
  // session's cache), so concurrent STOREs by other sessions are kept.
  std::vector<std::size_t> changed;
  std::vector<std::uint32_t> modified;  // failed UNCHANGEDSINCE (MODIFIED)
  if (unchangedsince) condstore_used();
  mb.begin_batch(unchangedsince.has_value());  // exclusive with UNCHANGEDSINCE: test and change are one step
  if (unchangedsince) mb.reload_modseqs();
  for (std::size_t idx : *set) {
    if (mb.messages()[idx].vanished) {
      vanished = true;
      continue;
    }
    if (unchangedsince && mb.messages()[idx].modseq > *unchangedsince) {
      modified.push_back(c.uid ? mb.messages()[idx].uid : static_cast<std::uint32_t>(idx + 1));
      continue;
    }
    auto r = mb.change_flags(idx, change);
    if (!r) {
      lib::log::error("user=%s: STORE: %s", login_.c_str(), r.error().message.c_str());
      (void)mb.end_batch();
      return {"NO", std::string(reply::server_error)};
    }
    if (!*r) {
      vanished = true;
      continue;
    }
    changed.push_back(idx);
  }
  auto e = mb.end_batch();
  if (!e) {
    lib::log::error("user=%s: STORE keywords: %s", login_.c_str(), e.error().message.c_str());
    return {"NO", std::string(reply::server_error)};
  }
  announce_keywords();
  std::string out;
  // With CONDSTORE each changed message's MODSEQ is told, even with .SILENT
  // (RFC 7162 3.1.3).
  if (!silent || condstore_enabled_) {
    for (std::size_t idx : changed) {
      const MessageState& m = mb.messages()[idx];
      out += "* " + std::to_string(idx + 1) + " FETCH (";
      if (c.uid) out += "UID " + std::to_string(m.uid) + " ";
      if (!silent) out += "FLAGS " + mb.flag_list(m);
      if (condstore_enabled_) out += std::string(silent ? "" : " ") + "MODSEQ (" + std::to_string(m.modseq) + ")";
      out += ")\r\n";
      if (out.size() > 65536) {
        emit(out);
        out.clear();
      }
    }
  }
  emit(out);
  if (!modified.empty()) {
    std::sort(modified.begin(), modified.end());
    return {"OK", "[MODIFIED " + format_numbers(modified) + "] Conditional STORE failed"};
  }
  if (vanished) return {"OK", std::string(reply::expunge_issued)};
  return {"OK", reply::completed("STORE")};
}

}  // namespace imapd
