// imapd/cmd_store.cpp: STORE and UID STORE (RFC 3501 6.4.6, 6.4.8): FLAGS,
// +FLAGS, -FLAGS and their .SILENT forms, system flags as Maildir letters and
// keywords in courierimapkeywords.
#include <set>
#include <string>

#include "imapd/keywords.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"

namespace imapd {

Completion Session::cmd_store(const ParsedCommand& c) {
  if (c.args.size() < 3) return {"BAD", "Syntax: STORE sequence-set item flags."};
  auto set = message_set(c.args[0], c.uid);
  if (!set) return {"BAD", std::string(reply::invalid_sequence_set)};
  if (!c.args[1].is_atom_like()) return {"BAD", std::string(reply::invalid_store_item)};
  std::string item(c.args[1].text);
  for (auto& ch : item) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  int mode = 0;  // 0 replace, 1 add, -1 remove
  if (!item.empty() && item[0] == '+') mode = 1, item.erase(0, 1);
  else if (!item.empty() && item[0] == '-') mode = -1, item.erase(0, 1);
  bool silent = false;
  if (item == "FLAGS.SILENT") silent = true;
  else if (item != "FLAGS") return {"BAD", "Invalid STORE item (FLAGS, +FLAGS, -FLAGS, .SILENT)."};
  std::vector<const Value*> flags;
  if (c.args.size() == 3 && c.args[2].is_list()) {
    for (const auto& f : c.args[2].items) flags.push_back(&f);
  } else {
    for (std::size_t i = 2; i < c.args.size(); ++i) flags.push_back(&c.args[i]);
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
  if (mb.read_only()) return {"NO", std::string(reply::read_only)};
  bool vanished = false;
  mb.begin_batch();
  std::string out;
  for (std::size_t idx : *set) {
    MessageState& m = mb.messages()[idx];
    if (m.vanished) {
      vanished = true;
      continue;
    }
    std::string want;
    std::set<std::string> kw;
    if (mode == 0) {
      want = letters;
      kw = keywords;
    } else if (mode > 0) {
      want = m.maildir_flags + letters;
      kw = m.keywords;
      kw.insert(keywords.begin(), keywords.end());
    } else {
      for (char ch : m.maildir_flags)
        if (letters.find(ch) == std::string::npos) want += ch;
      kw = m.keywords;
      for (const auto& k : keywords) kw.erase(k);
    }
    // Only the five system flags are ours to change; other letters stay.
    std::string system;
    for (char ch : want)
      if (ch == 'D' || ch == 'F' || ch == 'R' || ch == 'S' || ch == 'T') system += ch;
    if (kw.size() > max_keywords_per_message) {
      (void)mb.end_batch();
      return {"NO", "Too many keywords on one message."};
    }
    auto r = mb.set_flags(idx, system, kw);
    if (!r) {
      lib::log::error("user=%s: STORE: %s", login_.c_str(), r.error().message.c_str());
      (void)mb.end_batch();
      emit(out);
      return {"NO", std::string(reply::server_error)};
    }
    if (!*r) {
      vanished = true;
      continue;
    }
    if (!silent) {
      out += "* " + std::to_string(idx + 1) + " FETCH (";
      if (c.uid) out += "UID " + std::to_string(m.uid) + " ";
      out += "FLAGS " + mb.flag_list(m) + ")\r\n";
      if (out.size() > 65536) {
        emit(out);
        out.clear();
      }
    }
  }
  auto e = mb.end_batch();
  if (!e) lib::log::error("user=%s: STORE keywords: %s", login_.c_str(), e.error().message.c_str());
  emit(out);
  if (vanished) return {"NO", std::string(reply::expunge_issued)};
  return {"OK", reply::completed("STORE")};
}

}  // namespace imapd
