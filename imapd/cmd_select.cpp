// imapd/cmd_select.cpp: SELECT, EXAMINE (RFC 3501 6.3.1, 6.3.2), CLOSE
// (6.4.2) and UNSELECT (RFC 3691).
#include <string>

#include "imapd/objectid.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "imapd/shared_fs.hpp"
#include "lib/log.hpp"

namespace imapd {

Completion Session::cmd_select(const ParsedCommand& c) {
  bool examine = c.name == "EXAMINE";
  if (c.args.size() != 1 && c.args.size() != 2) return {"BAD", "Syntax: " + c.name + " mailbox [(parameters)]."};
  SelectParams params;  // RFC 7162 (CONDSTORE) and (QRESYNC (...))
  if (c.args.size() == 2) {
    std::string error;
    auto p = parse_select_params(c.args[1], error);
    if (!p) return {"BAD", error};
    if (p->qresync && !qresync_enabled_) return {"BAD", "QRESYNC must be ENABLEd first."};
    params = std::move(*p);
  }
  if (params.condstore) condstore_enabled_ = true;
  // RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected, and
  // selecting closes the previous one without expunging.
  // RFC 7162 3.2.11, and RFC 9051 7.1 in IMAP4rev2.
  if (mailbox_ && (qresync_enabled_ || rev2_)) emit("* OK [CLOSED] Previous mailbox closed.\r\n");
  mailbox_.reset();
  search_updates_.clear();
  saved_search_.clear();  // RFC 5182 2.1: "$" is empty in a newly selected mailbox
  std::string why;
  auto name = mailbox_arg(c.args[0], why);
  if (!name) return {"NO", why};
  if (!name->dir.empty()) {  // shared.NICK.FOLDER (imapd/shared_fs.hpp)
    auto p = shared_fs::prepare(root_, *name);
    if (!p) {
      lib::log::error("user=%s: %s %s: %s", login_.c_str(), c.name.c_str(), name->imap_name.c_str(),
                      p.error().message.c_str());
      if (p.error().kind == lib::ErrorKind::permanent) return {"NO", "[NONEXISTENT] " + p.error().message + "."};
      return {"NO", "Cannot open " + name->imap_name + " now, see the log."};
    }
    if (p->read_only) examine = true;
  }
  if (auto no = refuse_unless(*name, "r")) return *no;  // RFC 4314 4
  selected_rights_ = rights_on(*name);
  // Without any right to change it, the mailbox is opened read-only.
  if (!(selected_may('s') || selected_may('w') || selected_may('t') || selected_may('e') || selected_may('i')))
    examine = true;
  auto mb = Mailbox::open(folder_dir(*name), *name, examine);
  if (!mb) {
    if (mb.error().kind == lib::ErrorKind::permanent) return {"NO", std::string(reply::no_such_mailbox)};
    lib::log::error("user=%s: %s", login_.c_str(), mb.error().message.c_str());
    return {"NO", std::string(reply::server_error)};
  }
  mailbox_ = std::move(*mb);
  mailbox_->set_condstore(condstore_enabled_);
  mailbox_->set_qresync(qresync_enabled_);
  mailbox_->set_rev2(rev2_);
  std::string out = mailbox_->flags_announcement();
  out += "* " + std::to_string(mailbox_->count()) + " EXISTS\r\n";
  if (rev2_) {
    // RFC 9051 6.3.2: no RECENT and no [UNSEEN n]; a LIST response instead.
    out += select_list_response(*name);
  } else {
    out += "* " + std::to_string(mailbox_->recent_count()) + " RECENT\r\n";
    if (std::uint32_t u = mailbox_->first_unseen())
      out += "* OK [UNSEEN " + std::to_string(u) + "] Message " + std::to_string(u) + " is the first unseen\r\n";
  }
  out += "* OK [UIDVALIDITY " + std::to_string(mailbox_->uidvalidity()) + "] Ok\r\n";
  out += "* OK [UIDNEXT " + std::to_string(mailbox_->uidnext()) + "] Ok\r\n";
  out += select_modseq_responses(params);
  if (auto id = mailbox_id(mailbox_->dir())) {  // OBJECTID (RFC 8474)
    out += "* OK [MAILBOXID (" + *id + ")] Ok\r\n";
  } else {
    lib::log::error("user=%s: %s", login_.c_str(), id.error().message.c_str());
  }
  emit(out);
  return {"OK", examine ? "[READ-ONLY] Ok" : "[READ-WRITE] Ok"};
}

Completion Session::cmd_close(const ParsedCommand& c) {
  if (!c.args.empty()) return {"BAD", "CLOSE takes no arguments."};
  // RFC 3501 6.4.2: expunge silently, unless read-only.
  if (!mailbox_->read_only() && selected_may('e')) {  // RFC 4314 4: expunging needs "e"
    std::vector<bool> which;
    for (const auto& m : mailbox_->messages()) which.push_back(m.has_flag('T'));
    std::string trash;
    if (!mailbox_->name().dir.empty()) shared_fs::expunge_targets(*mailbox_, which, login_);
    else if (settings_.move_expunge_to_trash && mailbox_->name().root.empty() &&
             mailbox_->name().folder != settings_.trash_name) {
      trash = lib::maildir::folder_path(root_, settings_.trash_name);
      (void)lib::maildir::create_folder(root_, settings_.trash_name);
    }
    auto r = mailbox_->expunge(which, trash);
    if (!r) lib::log::error("user=%s: CLOSE: %s", login_.c_str(), r.error().message.c_str());
  }
  mailbox_.reset();
  search_updates_.clear();
  saved_search_.clear();
  return {"OK", reply::completed("CLOSE")};
}

Completion Session::cmd_unselect(const ParsedCommand& c) {
  if (!c.args.empty()) return {"BAD", "UNSELECT takes no arguments."};
  mailbox_.reset();
  search_updates_.clear();
  saved_search_.clear();
  return {"OK", reply::completed("UNSELECT")};
}

}  // namespace imapd
