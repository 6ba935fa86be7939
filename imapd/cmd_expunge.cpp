// imapd/cmd_expunge.cpp: EXPUNGE (RFC 3501 6.4.3) and UID EXPUNGE (RFC 4315
// 2.1); with IMAP_MOVE_EXPUNGE_TO_TRASH the messages go to the Trash folder.
#include <string>

#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "imapd/shared_fs.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd {

Completion Session::cmd_expunge(const ParsedCommand& c) {
  if (c.args.size() != (c.uid ? 1u : 0u)) return {"BAD", c.uid ? "Syntax: UID EXPUNGE set." : "EXPUNGE takes no arguments."};
  Mailbox& mb = *mailbox_;
  if (mb.read_only()) return {"NO", shared_fs::read_only_reply(mb, reply::read_only)};
  if (auto no = refuse_unless_selected("e")) return *no;  // RFC 4314 4
  std::vector<bool> which(mb.count(), false);
  if (c.uid) {
    auto set = message_set(c.args[0], true);
    if (!set) return {"BAD", "Invalid UID set."};
    for (std::size_t i : *set) which[i] = true;
  } else {
    which.assign(mb.count(), true);
  }
  for (std::size_t i = 0; i < which.size(); ++i)
    which[i] = which[i] && mb.messages()[i].has_flag('T');
  std::string trash;
  if (!mb.name().dir.empty()) shared_fs::expunge_targets(mb, which, login_);  // shared.*: the sharable folder's
  else if (settings_.move_expunge_to_trash && mb.name().root.empty() && mb.name().folder != settings_.trash_name) {
    auto made = lib::maildir::create_folder(root_, settings_.trash_name);
    if (made) trash = lib::maildir::folder_path(root_, settings_.trash_name);
  }
  std::vector<std::uint32_t> uids_before;  // RFC 5267: REMOVEFROM before the EXPUNGEs
  if (!search_updates_.empty()) uids_before = selected_uids();
  auto r = mb.expunge(which, trash);
  if (!r) {
    lib::log::error("user=%s: EXPUNGE: %s", login_.c_str(), r.error().message.c_str());
    return {"NO", std::string(reply::server_error)};
  }
  if (!search_updates_.empty()) context_updates(uids_before);
  emit(*r);
  return {"OK", reply::completed("EXPUNGE")};
}

}  // namespace imapd
