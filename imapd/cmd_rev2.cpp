// imapd/cmd_rev2.cpp: IMAP4rev2 (RFC 9051) alongside IMAP4rev1. Both are
// advertised; a session speaks IMAP4rev1 exactly as before until the client
// sends ENABLE IMAP4rev2 (RFC 9051 6.3.1). From then on (RFC 9051 Appendix E):
//   - no \Recent: not in FLAGS, FETCH FLAGS or PERMANENTFLAGS, no RECENT
//     responses (Mailbox::set_rev2), STATUS RECENT and SEARCH RECENT, NEW,
//     OLD are errors;
//   - SEARCH answers with ESEARCH (RETURN (ALL) when no RETURN is given), and
//     SEARCHRES (RFC 5182) works: RETURN (SAVE) and "$" as a message set;
//   - SELECT/EXAMINE send the mailbox's LIST response, "* OK [CLOSED]" when
//     another mailbox was selected, and no [UNSEEN n];
//   - mailbox names are UTF-8 on the wire, as after ENABLE UTF8=ACCEPT.
// Everything else RFC 9051 folds in (NAMESPACE, UNSELECT, UIDPLUS, MOVE, ID,
// LITERAL-, SASL-IR, ENABLE, IDLE, LIST-EXTENDED, LIST-STATUS, STATUS SIZE
// and DELETED, BINARY, SPECIAL-USE) is served in both versions.
#include <algorithm>
#include <string>

#include "imapd/folders.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd {

std::string Session::select_list_response(const FolderName& name) {
  // RFC 9051 6.3.2: SELECT's LIST response gives the mailbox's canonical
  // name and its attributes, as LIST would.
  auto folders = lib::maildir::list_folders(root_);
  if (!folders) {
    lib::log::error("user=%s: SELECT: %s", login_.c_str(), folders.error().message.c_str());
    return {};
  }
  bool children = false;
  std::string attrs;
  if (name.folder.empty()) {
    children = !folders->empty();
  } else {
    auto it = std::find_if(folders->begin(), folders->end(),
                           [&](const lib::maildir::FolderEntry& f) { return f.name == name.folder; });
    children = it != folders->end() && it->has_children;
    auto su = special_use(name.folder, settings_.trash_name);
    if (!su.empty()) attrs = " " + std::string(su);
  }
  return std::string("* LIST (") + (children ? "\\HasChildren" : "\\HasNoChildren") + attrs + ") \".\" " +
         wire_name(name.imap_name) + "\r\n";
}

void Session::save_search_result(const SearchReturn& r, const std::vector<std::uint32_t>& uids_in_order) {
  // RFC 5182 2.1: with MIN or MAX but neither ALL nor COUNT, only those
  // messages are saved; else the whole result.
  saved_search_.clear();
  if (uids_in_order.empty()) return;
  if ((r.min || r.max) && !r.all && !r.count) {
    if (r.min) saved_search_.push_back(*std::min_element(uids_in_order.begin(), uids_in_order.end()));
    if (r.max) saved_search_.push_back(*std::max_element(uids_in_order.begin(), uids_in_order.end()));
  } else {
    saved_search_ = uids_in_order;
  }
  std::sort(saved_search_.begin(), saved_search_.end());
  saved_search_.erase(std::unique(saved_search_.begin(), saved_search_.end()), saved_search_.end());
}

bool search_uses_recent(const SearchKey& key) {
  if (key.kind == SearchKey::Kind::flag && key.flag == SystemFlag::recent) return true;
  return std::any_of(key.children.begin(), key.children.end(), search_uses_recent);
}

bool search_saves(const std::vector<Value>& args) {
  if (args.size() < 2 || !args[0].is_word("RETURN") || !args[1].is_list()) return false;
  return std::any_of(args[1].items.begin(), args[1].items.end(), [](const Value& v) { return v.is_word("SAVE"); });
}

}  // namespace imapd
