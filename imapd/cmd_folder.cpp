// imapd/cmd_folder.cpp: CREATE, DELETE, RENAME (RFC 3501 6.3.3-6.3.5) on
// Maildir++ folders through lib/maildir.hpp, with RENAME INBOX's special case
// (the messages move, INBOX stays) and children renamed along.
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "imapd/objectid.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "imapd/shared_fs.hpp"
#include "imapd/urlauth.hpp"
#include "lib/c_handle.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"
#include "imapd/keywords.hpp"
#include "imapd/uiddb.hpp"

namespace imapd {
namespace {

// CREATE "INBOX.a." means "INBOX.a" (RFC 3501 6.3.3: a trailing separator
// only says the client wants to create children).
Value strip_trailing_separator(const Value& v) {
  Value copy = v;
  std::string s(v.str());
  if (s.size() > 1 && s.back() == '.') s.pop_back();
  copy.kind = Value::Kind::quoted;
  copy.text = s;
  return copy;
}

}  // namespace

Completion Session::cmd_create(const ParsedCommand& c) {
  if (c.args.size() != 1 || !c.args[0].is_astring()) return {"BAD", "Syntax: CREATE mailbox."};
  std::string why;
  auto name = mailbox_arg(strip_trailing_separator(c.args[0]), why);
  if (!name) return {"NO", why};
  if (name->folder.empty()) return {"NO", "[ALREADYEXISTS] INBOX always exists."};
  if (!name->dir.empty()) return {"NO", std::string(shared_fs::not_managed_text)};
  if (auto no = refuse_unless_parent(*name, "k")) return *no;  // RFC 4314 4
  const std::string& base = name->root.empty() ? root_ : name->root;  // #shared: the other account's
  auto r = lib::maildir::create_folder(base, name->folder);
  if (!r) {
    lib::log::error("user=%s: CREATE: %s", login_.c_str(), r.error().message.c_str());
    return {"NO", r.error().kind == lib::ErrorKind::permanent ? "Cannot create this mailbox." : "Cannot create the mailbox now, see the log."};
  }
  if (!*r) return {"NO", std::string(reply::already_exists)};
  // Its UIDVALIDITY now, from the account's counter: never one this name
  // had before (DELETE + CREATE within a second included).
  std::string dir = lib::maildir::folder_path(base, name->folder);
  auto a = assign_uids(dir, {}, nullptr);
  if (!a) lib::log::error("user=%s: CREATE: %s", login_.c_str(), a.error().message.c_str());
  // Nothing claimed as \Recent yet: every message APPENDed or COPYed in is
  // recent to the first session that sees it.
  auto rc = claim_recent(dir, 1, true);
  if (!rc) lib::log::error("user=%s: CREATE: %s", login_.c_str(), rc.error().message.c_str());
  auto id = mailbox_id(dir);  // OBJECTID (RFC 8474)
  if (!id) lib::log::error("user=%s: CREATE: %s", login_.c_str(), id.error().message.c_str());
  if (id) return {"OK", "[MAILBOXID (" + *id + ")] " + reply::completed("CREATE")};
  return {"OK", reply::completed("CREATE")};
}

// URLs made for a mailbox that went must not open one made later under its
// name (RFC 4467 7): its URLAUTH key goes with it.
void Session::forget_urlauth(const std::string& imap_name, bool children) {
  auto r = forget_urlauth_keys(root_, imap_name, children);
  if (!r) lib::log::error("user=%s: URLAUTH keys of %s: %s", login_.c_str(), imap_name.c_str(), r.error().message.c_str());
}

Completion Session::cmd_delete(const ParsedCommand& c) {
  if (c.args.size() != 1) return {"BAD", "Syntax: DELETE mailbox."};
  std::string why;
  auto name = mailbox_arg(c.args[0], why);
  if (!name) return {"NO", why};
  if (name->folder.empty()) return {"NO", "INBOX cannot be deleted."};
  if (!name->dir.empty()) return {"NO", std::string(shared_fs::not_managed_text)};
  if (auto no = refuse_unless(*name, "x")) return *no;  // RFC 4314 4
  const std::string& base = name->root.empty() ? root_ : name->root;  // #shared: the other account's
  if (mailbox_ && mailbox_->name().imap_name == name->imap_name) mailbox_.reset();
  // RFC 3501 6.3.4: children stay; the name remains as \Noselect.
  auto r = lib::maildir::delete_folder(base, name->folder, false);
  if (!r) {
    if (r.error().kind == lib::ErrorKind::permanent) return {"NO", "[NONEXISTENT] No such mailbox."};
    lib::log::error("user=%s: DELETE: %s", login_.c_str(), r.error().message.c_str());
    return {"NO", "Cannot delete the mailbox now, see the log."};
  }
  // Its messages no longer count toward the quota.
  acl::remove_files(base, name->folder);
  forget_urlauth(name->imap_name, false);
  auto q = lib::maildir::recalculate_quota(base);
  if (!q) lib::log::warning("user=%s: DELETE: %s", login_.c_str(), q.error().message.c_str());
  // The subscription stays (RFC 3501 6.3.6: the server MUST NOT remove a
  // name from the subscription list because the mailbox no longer exists;
  // RFC 5258 5: it is listed as \NonExistent \Subscribed). Courier removes it.
  return {"OK", reply::completed("DELETE")};
}

Completion Session::cmd_rename(const ParsedCommand& c) {
  if (c.args.size() != 2) return {"BAD", "Syntax: RENAME mailbox newname."};
  std::string why;
  auto from = mailbox_arg(c.args[0], why);
  if (!from) return {"NO", why};
  auto to = mailbox_arg(strip_trailing_separator(c.args[1]), why);
  if (!to) return {"NO", why};
  if (!from->dir.empty() || !to->dir.empty()) return {"NO", std::string(shared_fs::not_managed_text)};
  if (to->folder.empty()) return {"NO", "[ALREADYEXISTS] INBOX already exists."};
  if (from->root != to->root) return {"NO", "[CANNOT] RENAME cannot move a folder to another account."};
  if (!from->root.empty() && from->folder.empty()) return {"NO", "[CANNOT] Another account's INBOX cannot be renamed."};
  if (auto no = refuse_unless(*from, "x")) return *no;  // RFC 4314 4
  if (auto no = refuse_unless_parent(*to, "k")) return *no;
  const std::string& account_root = from->root.empty() ? root_ : from->root;  // #shared: the other account's
  if (from->folder.empty()) {
    // RFC 3501 6.3.5: renaming INBOX moves its messages to the new mailbox
    // and leaves INBOX empty; INBOX's children are not moved.
    auto made = lib::maildir::create_folder(root_, to->folder);
    if (!made) return {"NO", "Cannot create the new mailbox."};
    if (!*made) return {"NO", std::string(reply::already_exists)};
    std::string target = lib::maildir::folder_path(root_, to->folder);
    // The keywords go along with the messages.
    auto inbox_kw = read_keywords(root_);
    if (!inbox_kw) lib::log::error("user=%s: RENAME INBOX: %s", login_.c_str(), inbox_kw.error().message.c_str());
    std::vector<KeywordChange> add_kw, drop_kw;
    for (const char* sub : {"cur", "new"}) {
      std::string d = root_ + "/" + sub;
      lib::DirStream h(::opendir(d.c_str()));
      if (!h) continue;
      std::vector<std::string> names;
      while (dirent* e = ::readdir(h.get()))
        if (e->d_name[0] != '.') names.emplace_back(e->d_name);
      for (const auto& n : names) {
        if (::rename((d + "/" + n).c_str(), (target + "/" + sub + "/" + n).c_str()) != 0) {
          if (errno != ENOENT)
            lib::log::error("user=%s: RENAME INBOX: %s: %s", login_.c_str(), n.c_str(), lib::errno_text(errno).c_str());
          continue;
        }
        std::string base = n.substr(0, n.find(':'));
        if (!inbox_kw) continue;
        auto k = inbox_kw->find(base);
        if (k == inbox_kw->end()) continue;
        add_kw.push_back({base, KeywordChange::Op::set, k->second});
        drop_kw.push_back({base, KeywordChange::Op::set, {}});
      }
    }
    if (!add_kw.empty()) {
      auto w = update_keywords(target, add_kw);
      if (!w) lib::log::error("user=%s: RENAME INBOX: %s", login_.c_str(), w.error().message.c_str());
      auto x = update_keywords(root_, drop_kw);
      if (!x) lib::log::error("user=%s: RENAME INBOX: %s", login_.c_str(), x.error().message.c_str());
    }
    if (mailbox_ && mailbox_->name().folder.empty()) (void)mailbox_->refresh(true);
    return {"OK", reply::completed("RENAME")};
  }
  if (mailbox_ && mailbox_->name().root == from->root &&
      (mailbox_->name().folder == from->folder || mailbox_->name().folder.rfind(from->folder + ".", 0) == 0))
    mailbox_.reset();
  auto r = lib::maildir::rename_folder(account_root, from->folder, to->folder);
  if (!r) {
    if (r.error().kind == lib::ErrorKind::permanent) return {"NO", "Cannot rename: " + r.error().message};
    lib::log::error("user=%s: RENAME: %s", login_.c_str(), r.error().message.c_str());
    return {"NO", "Cannot rename the mailbox now, see the log."};
  }
  forget_urlauth(from->imap_name, true);
  forget_urlauth(to->imap_name, true);
  auto subs = read_subscriptions(root_);
  if (subs) {
    std::set<std::string> renamed;
    bool changed = false;
    for (const auto& s : *subs) {
      if (s == from->imap_name || s.rfind(from->imap_name + ".", 0) == 0) {
        renamed.insert(to->imap_name + s.substr(from->imap_name.size()));
        changed = true;
      } else {
        renamed.insert(s);
      }
    }
    if (changed) (void)write_subscriptions(root_, renamed);
  }
  return {"OK", reply::completed("RENAME")};
}

}  // namespace imapd
