// imapd/cmd_acl.cpp: SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS (RFC
// 4314 3) over Courier's courierimapacl files (imapd/acl.hpp), the rights
// checks the other commands make (RFC 4314 4), and the "#shared." namespace
// of other accounts' folders (imapd/shared_virtual.hpp). All of it only with
// IMAP_ACL=1; otherwise every folder is the user's own, with every right.
#include <sys/stat.h>

#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "authlib/account_options.hpp"
#include "imapd/imap_string.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd {
namespace {

constexpr std::string_view right_names = "lrswikxtea";
constexpr std::string_view acl_disabled = "ACL commands are off (IMAP_ACL=1 in the imapd configuration turns them on).";

const char* right_meaning(char r) {
  switch (r) {
    case 'l': return "lookup";
    case 'r': return "read";
    case 's': return "keep seen";
    case 'w': return "write flags";
    case 'i': return "insert";
    case 'c':
    case 'k': return "create mailboxes";
    case 'x': return "delete mailbox";
    case 't': return "delete messages";
    case 'e': return "expunge";
    case 'a': return "administer";
    default: return "?";
  }
}

// An identifier as a client writes it, in Courier's form: the named ones
// stay, anything else is a login ("bob" -> "user=bob"); "-" keeps its place.
std::string identifier_from_client(std::string_view id) {
  bool negative = !id.empty() && id.front() == '-';
  if (negative) id.remove_prefix(1);
  std::string out(id);
  if (id != "owner" && id != "anyone" && id != "anonymous" && id != "administrators" && id.substr(0, 5) != "user=" &&
      id.substr(0, 6) != "group=")
    out = "user=" + out;
  return negative ? "-" + out : out;
}

std::string owner_of(const FolderName& f, const std::string& login) { return f.owner.empty() ? login : f.owner; }

}  // namespace

const std::vector<shared::Account>& Session::shared_accounts() const {
  if (!shared_accounts_) {
    shared_accounts_.emplace();
    if (!authlib::account_option_set(settings_.account_options, "disableshared"))
      *shared_accounts_ = shared::read_accounts(shared::index_file_for(settings_.shared_index_file,
                                                                       settings_.account_options));
  }
  return *shared_accounts_;
}

std::optional<FolderName> Session::resolve_shared(const std::string& utf8, std::string& why) const {
  auto t = shared::resolve(shared_accounts(), utf8);
  if (!t || !t->account) {
    why = t ? "[NOPERM] " + utf8 + " is a hierarchy of shared accounts, not a mailbox." : std::string(reply::no_such_mailbox);
    return std::nullopt;
  }
  FolderName f;
  if (!t->folder.empty()) {
    auto inner = resolve_mailbox("INBOX." + t->folder, why);
    if (!inner) return std::nullopt;
    f.folder = inner->folder;
  }
  f.imap_name = t->account->imap_name + (f.folder.empty() ? "" : "." + f.folder);
  f.root = t->account->maildir;
  f.owner = t->account->login;
  return f;
}

acl::Rights Session::rights_on(const FolderName& f) const {
  if (!settings_.acl) return acl::all_rights();
  // shared.NICK.FOLDER (imapd/shared_fs.hpp): Unix permissions govern, as in
  // Courier's filesystem model; read-only shares open with [READ-ONLY].
  if (!f.dir.empty()) return acl::all_rights();
  const std::string& maildir = f.root.empty() ? root_ : f.root;
  auto list = acl::read(maildir, f.folder);
  if (!list) {
    lib::log::error("user=%s: access rights of %s: %s", login_.c_str(), f.imap_name.c_str(),
                    list.error().message.c_str());
    return 0;
  }
  acl::Identity who{login_, acl::groups_from_options(settings_.account_options)};
  return acl::compute(*list, who, owner_of(f, login_));
}

namespace {

std::optional<Completion> missing(acl::Rights have, std::string_view needed, const std::string& name,
                                  const std::string& login) {
  for (char r : needed) {
    if (acl::has(have, r == 'k' ? 'c' : r)) continue;
    lib::log::info("user=%s: refused on %s: no \"%c\" (%s) right", login.c_str(), name.c_str(), r, right_meaning(r));
    return Completion{"NO", "[NOPERM] No \"" + std::string(1, r) + "\" (" + right_meaning(r) + ") right on " + name +
                                "."};
  }
  return std::nullopt;
}

}  // namespace

std::optional<Completion> Session::refuse_unless(const FolderName& f, std::string_view needed) const {
  if (!settings_.acl) return std::nullopt;
  acl::Rights have = rights_on(f);
  if (have == 0 && !f.root.empty()) {
    // Nothing at all: also what an unreadable ACL gives. Tell which, so the
    // admin finds the cause (rights_on logged the path and errno text).
    struct stat st{};
    std::string dir = folder_dir(f);
    if (::stat(dir.c_str(), &st) != 0 || ::access(dir.c_str(), R_OK | X_OK) != 0) {
      int err = errno;
      lib::log::error("user=%s: shared folder %s: %s: %s (imapd runs as uid %u; the accounts that share folders "
                      "must share a uid/gid, see README \"Virtual shared folders\")",
                      login_.c_str(), f.imap_name.c_str(), dir.c_str(), std::strerror(err),
                      static_cast<unsigned>(::getuid()));
      return Completion{"NO", "[UNAVAILABLE] Cannot open " + f.imap_name + ", see the server log."};
    }
  }
  return missing(have, needed, f.imap_name, login_);
}

std::optional<Completion> Session::refuse_unless_parent(const FolderName& f, std::string_view needed) const {
  if (!settings_.acl) return std::nullopt;
  FolderName parent = f;
  std::size_t dot = f.folder.rfind('.');
  parent.folder = dot == std::string::npos ? std::string() : f.folder.substr(0, dot);
  std::size_t name_dot = f.imap_name.rfind('.');
  if (!f.folder.empty() && name_dot != std::string::npos) parent.imap_name = f.imap_name.substr(0, name_dot);
  return refuse_unless(parent, needed);
}

std::optional<Completion> Session::refuse_unless_selected(std::string_view needed) const {
  if (!settings_.acl || !mailbox_) return std::nullopt;
  return missing(selected_rights_, needed, mailbox_->name().imap_name, login_);
}

std::string Session::list_shared(const std::string& pattern) const {
  if (!settings_.acl) return {};
  const auto& accounts = shared_accounts();
  std::string out;
  std::set<std::string> levels;  // hierarchy names already listed
  auto list_level = [&](const std::string& name) {
    if (levels.insert(name).second && list_match(pattern, name))
      out += "* LIST (\\Noselect \\HasChildren) \".\" " + wire_name(name) + "\r\n";
  };
  acl::Identity who{login_, acl::groups_from_options(settings_.account_options)};
  // Only accounts whose names share the pattern's literal beginning can match.
  std::string prefix = pattern.substr(0, pattern.find_first_of("*%"));
  for (const auto& a : accounts) {
    if (a.login == login_) continue;  // one's own folders are under INBOX
    std::size_t common = std::min(prefix.size(), a.imap_name.size());
    if (prefix.compare(0, common, a.imap_name, 0, common) != 0) continue;
    std::vector<std::pair<std::string, bool>> names{{"", true}};  // folder, exists
    auto folders = lib::maildir::list_folders(a.maildir);
    if (!folders) {
      lib::log::error("user=%s: LIST %s: %s (the accounts that share folders must share a uid/gid)", login_.c_str(),
                      a.imap_name.c_str(), folders.error().message.c_str());
      continue;
    }
    for (const auto& f : *folders) names.emplace_back(f.name, f.exists);
    bool any = false;  // a folder the user may see: the levels above it are shown
    std::string lines;
    for (const auto& [folder, exists] : names) {
      std::string name = a.imap_name + (folder.empty() ? "" : "." + folder);
      auto list = acl::read(a.maildir, folder);
      if (!list) {
        lib::log::error("user=%s: access rights of %s: %s", login_.c_str(), name.c_str(), list.error().message.c_str());
        continue;
      }
      if (!acl::has(acl::compute(*list, who, a.login), 'l')) continue;
      any = true;
      if (list_match(pattern, name))
        lines += std::string("* LIST (") + (exists ? "" : "\\Noselect") + ") \".\" " + wire_name(name) + "\r\n";
    }
    if (!any) continue;
    // The levels above the account: "#shared", "#shared.group".
    for (std::size_t dot = a.imap_name.find('.'); dot != std::string::npos; dot = a.imap_name.find('.', dot + 1))
      list_level(a.imap_name.substr(0, dot));
    out += lines;
  }
  return out;
}

// --- the commands ------------------------------------------------------------

namespace {

bool folder_exists(const std::string& maildir, const std::string& folder, const std::string& dir) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) == 0) return true;
  auto folders = lib::maildir::list_folders(maildir);
  if (!folders) return false;
  for (const auto& f : *folders)
    if (f.name == folder) return true;
  return false;
}

// What an ACL command works on: the folder, its maildir and its ACL.
struct AclSubject {
  FolderName folder;
  std::string maildir;
  acl::List list;
};

// Resolves the mailbox argument, checks that it exists and that the user has
// `needed` (RFC 4314 3: "a" for all but MYRIGHTS), reads its ACL. nullopt with
// the reply in `fail`.
std::optional<AclSubject> acl_subject(const Session& s, const Value& mailbox, std::string_view needed,
                                      const char* verb, const std::string& login, Completion& fail) {
  std::string why;
  auto f = s.mailbox_arg(mailbox, why);
  if (!f) {
    fail = {"NO", why};
    return std::nullopt;
  }
  AclSubject subject{*f, f->root.empty() ? s.root() : f->root, {}};
  if (!folder_exists(subject.maildir, f->folder, s.folder_dir(*f))) {
    fail = {"NO", std::string(reply::no_such_mailbox)};
    return std::nullopt;
  }
  if (!needed.empty())
    if (auto no = s.refuse_unless(*f, needed)) {
      fail = *no;
      return std::nullopt;
    }
  auto list = acl::read(subject.maildir, f->folder);
  if (!list) {
    lib::log::error("user=%s: %s %s: %s", login.c_str(), verb, f->imap_name.c_str(), list.error().message.c_str());
    fail = {"NO", std::string(reply::server_error)};
    return std::nullopt;
  }
  subject.list = std::move(*list);
  return subject;
}

// Writes a changed ACL: a change that takes the minimum rights away is
// refused (NO [CANNOT]), a failed write is logged.
Completion save(const AclSubject& subject, const char* verb, const std::string& login) {
  auto w = acl::write(subject.maildir, subject.folder.folder, subject.list, owner_of(subject.folder, login));
  if (!w) {
    if (w.error().kind == lib::ErrorKind::permanent) return {"NO", "[CANNOT] " + w.error().message + "."};
    lib::log::error("user=%s: %s %s: %s", login.c_str(), verb, subject.folder.imap_name.c_str(),
                    w.error().message.c_str());
    return {"NO", std::string(reply::server_error)};
  }
  return {"OK", reply::completed(verb)};
}

}  // namespace

Completion Session::cmd_setacl(const ParsedCommand& c) {
  if (!settings_.acl) return {"BAD", std::string(acl_disabled)};
  if (c.args.size() != 3 || !c.args[1].is_astring() || !c.args[2].is_astring())
    return {"BAD", "Syntax: SETACL mailbox identifier rights."};
  Completion fail;
  auto subject = acl_subject(*this, c.args[0], "a", "SETACL", login_, fail);
  if (!subject) return fail;
  std::string id = identifier_from_client(c.args[1].str());
  if (!acl::valid_identifier(id)) return {"BAD", "Invalid identifier."};
  std::string why;
  if (!acl::change(subject->list, id, c.args[2].str(), why)) return {"BAD", why + "."};  // RFC 4314 3.1
  Completion done = save(*subject, "SETACL", login_);
  if (done.status == "OK") {
    const acl::Entry* e = acl::find(subject->list, id);
    lib::log::info("user=%s: SETACL %s %s %s", login_.c_str(), subject->folder.imap_name.c_str(), id.c_str(),
                   acl::letters(e ? e->rights : 0).c_str());
  }
  return done;
}

Completion Session::cmd_deleteacl(const ParsedCommand& c) {
  if (!settings_.acl) return {"BAD", std::string(acl_disabled)};
  if (c.args.size() != 2 || !c.args[1].is_astring()) return {"BAD", "Syntax: DELETEACL mailbox identifier."};
  Completion fail;
  auto subject = acl_subject(*this, c.args[0], "a", "DELETEACL", login_, fail);
  if (!subject) return fail;
  acl::remove(subject->list, identifier_from_client(c.args[1].str()));
  return save(*subject, "DELETEACL", login_);
}

Completion Session::cmd_getacl(const ParsedCommand& c) {
  if (!settings_.acl) return {"BAD", std::string(acl_disabled)};
  if (c.args.size() != 1) return {"BAD", "Syntax: GETACL mailbox."};
  Completion fail;
  auto subject = acl_subject(*this, c.args[0], "a", "GETACL", login_, fail);
  if (!subject) return fail;
  std::string out = "* ACL " + wire_name(subject->folder.imap_name);
  for (const auto& e : subject->list) {
    out += ' ';
    append_astring(out, e.identifier);
    out += ' ';
    append_astring(out, acl::wire_letters(e.rights));
  }
  emit(out + "\r\n");
  return {"OK", reply::completed("GETACL")};
}

Completion Session::cmd_listrights(const ParsedCommand& c) {
  if (!settings_.acl) return {"BAD", std::string(acl_disabled)};
  if (c.args.size() != 2 || !c.args[1].is_astring()) return {"BAD", "Syntax: LISTRIGHTS mailbox identifier."};
  Completion fail;
  auto subject = acl_subject(*this, c.args[0], "a", "LISTRIGHTS", login_, fail);
  if (!subject) return fail;
  std::string id(c.args[1].str());
  std::string courier_id = identifier_from_client(id);
  // What cannot be taken away (acl::check_minimum_rights), then each right
  // that can be granted on its own; "k" and "c" are one right here.
  std::string required;
  if (courier_id == "owner" || courier_id == "user=" + owner_of(subject->folder, login_)) required = "la";
  else if (courier_id == "administrators" || courier_id == "group=administrators") required = "acdeiklrstwx";
  std::string out = "* LISTRIGHTS " + wire_name(subject->folder.imap_name) + " ";
  append_astring(out, id);
  out += ' ';
  append_string(out, required);
  for (char r : right_names) {
    if (required.find(r) != std::string::npos) continue;
    out += ' ';
    out += r == 'k' ? std::string("kc") : std::string(1, r);
  }
  emit(out + "\r\n");
  return {"OK", reply::completed("LISTRIGHTS")};
}

Completion Session::cmd_myrights(const ParsedCommand& c) {
  if (!settings_.acl) return {"BAD", std::string(acl_disabled)};
  if (c.args.size() != 1) return {"BAD", "Syntax: MYRIGHTS mailbox."};
  Completion fail;
  auto subject = acl_subject(*this, c.args[0], "", "MYRIGHTS", login_, fail);
  if (!subject) return fail;
  acl::Rights r = rights_on(subject->folder);
  // RFC 4314 3.5: any right lets the user see their own rights.
  if (r == 0)
    if (auto no = refuse_unless(subject->folder, "l")) return *no;
  std::string out = "* MYRIGHTS " + wire_name(subject->folder.imap_name) + " ";
  append_astring(out, acl::wire_letters(r));
  emit(out + "\r\n");
  return {"OK", reply::completed("MYRIGHTS")};
}

}  // namespace imapd
