// imapd/session.cpp: the authenticated session loop and the small commands
// (see session.hpp).
#include "imapd/session.hpp"
#include "imapd/shared_fs.hpp"

#include <dirent.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "imapd/command_reader.hpp"
#include "imapd/command_table.hpp"
#include "imapd/imap_string.hpp"
#include "imapd/mutf7.hpp"
#include "imapd/replies.hpp"
#include "imapd/shared_virtual.hpp"
#include "lib/c_handle.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/mime.hpp"

namespace imapd {

Session::Session(Settings settings, std::string maildir_root, std::string login, lib::io::Reader& reader,
                 lib::io::Writer& writer)
    : settings_(std::move(settings)), root_(std::move(maildir_root)), login_(std::move(login)),
      in_(reader), out_(writer) {}

Session::~Session() = default;

void Session::emit(std::string_view text) {
  out_.append(text);
  emitted_bytes_ += text.size();
  flush_if_large();
}

void Session::flush_if_large() {
  if (out_.pending() >= 256 * 1024) (void)out_.flush();
}

std::optional<FolderName> Session::mailbox_arg(const Value& v, std::string& why) const {
  if (!v.is_astring()) {
    why = "Mailbox name expected.";
    return std::nullopt;
  }
  auto utf8 = name_from_client(v.str());
  if (!utf8) {
    why = utf8_names() ? "Invalid mailbox name (not UTF-8)." : "Invalid mailbox name (not modified UTF-7).";
    return std::nullopt;
  }
  if (shared_fs::is_shared_name(*utf8)) return shared_fs::resolve(root_, *utf8, why);
  if (settings_.acl && shared::in_namespace(*utf8)) return resolve_shared(*utf8, why);  // cmd_acl.cpp
  return resolve_mailbox(*utf8, why);
}

std::string Session::folder_dir(const FolderName& f) const {
  if (!f.dir.empty()) return f.dir;
  if (!f.root.empty()) return lib::maildir::folder_path(f.root, f.folder);  // #shared (cmd_acl.cpp)
  return lib::maildir::folder_path(root_, f.folder);
}

std::string Session::wire_name(std::string_view imap_name_utf8) const {
  std::string out;
  if (utf8_names()) {
    StringStyle style;
    style.utf8 = true;
    append_mailbox(out, imap_name_utf8, style);
    return out;
  }
  auto m = utf8_to_mutf7(imap_name_utf8);
  append_mailbox(out, m ? *m : std::string(imap_name_utf8));
  return out;
}

std::optional<std::string> Session::name_from_client(std::string_view wire) const {
  if (!utf8_names()) return mutf7_to_utf8(wire);
  // RFC 6855 3: after ENABLE UTF8=ACCEPT names are UTF-8; a name that is
  // also valid modified UTF-7 with "&" shifts is taken as UTF-8 as written.
  if (!lib::mime::valid_utf8(wire)) return std::nullopt;
  return std::string(wire);
}

std::optional<std::vector<std::size_t>> Session::message_set(const Value& v, bool uid) const {
  if (!v.is_atom_like()) return std::nullopt;
  SequenceSetLimits limits;
  limits.allow_saved = rev2_;  // SEARCHRES "$" (RFC 5182), part of IMAP4rev2
  auto set = SequenceSet::parse(v.text, limits);
  if (!set || !mailbox_) return std::nullopt;
  std::vector<std::size_t> out;
  const auto& msgs = mailbox_->messages();
  if (set->is_saved()) {  // the saved UIDs still here, in mailbox order
    for (std::size_t i = 0; i < msgs.size(); ++i)
      if (std::binary_search(saved_search_.begin(), saved_search_.end(), msgs[i].uid)) out.push_back(i);
    return out;
  }
  if (uid) {
    std::uint32_t largest = msgs.empty() ? 0 : msgs.back().uid;
    std::vector<std::uint32_t> uids;
    uids.reserve(msgs.size());
    for (const auto& m : msgs) uids.push_back(m.uid);
    set->for_each_in(uids, largest, [&](std::size_t i) { out.push_back(i); });
  } else {
    for (const auto& r : set->resolve(static_cast<std::uint32_t>(msgs.size())))
      for (std::uint64_t n = r.first; n <= r.last; ++n) out.push_back(static_cast<std::size_t>(n - 1));
    // A sequence number above the message count is an error (RFC 3501 9:
    // "seq-number ... greater than the number of messages ... is invalid").
    if (!set->uses_star() && set->max_explicit() > msgs.size()) return std::nullopt;
  }
  return out;
}

void Session::announce_keywords() {
  if (!mailbox_) return;
  std::string a = mailbox_->take_flags_announcement();
  if (!a.empty()) emit(a);
}

void Session::send_updates(bool allow_expunge, bool rescan) {
  if (!mailbox_) return;
  std::uint32_t uid_before = mailbox_->messages().empty() ? 0 : mailbox_->messages().back().uid;
  if (rescan && !mailbox_->name().dir.empty()) (void)shared_fs::prepare(root_, mailbox_->name());  // shared.*: new links
  auto r = rescan ? mailbox_->refresh() : lib::Result<void>();
  if (!r) {
    lib::log::error("user=%s folder=%s: %s", login_.c_str(), mailbox_->dir().c_str(), r.error().message.c_str());
    if (r.error().kind == lib::ErrorKind::permanent) {
      emit("* BYE [UNAVAILABLE] The mailbox was renumbered or removed underneath this session.\r\n");
      fatal_ = true;
      return;
    }
  }
  std::string u = mailbox_->take_updates(allow_expunge, false);
  if (!u.empty()) emit(u);
  if (notify_) notify_fetch_new(uid_before);
}

bool Session::execute(const ParsedCommand& cmd) {
  if (!cmd.ok()) {
    emit(reply::tagged(cmd.tag.empty() ? "*" : cmd.tag, "BAD", cmd.error));
    return true;
  }
  const CommandSpec* spec = find_command(cmd.name);
  if (!spec || (cmd.uid && !spec->has_uid_form)) {
    emit(reply::tagged(cmd.tag, "BAD", reply::unknown_command));
    return true;
  }
  if (spec->needs_selected && !mailbox_) {
    emit(reply::tagged(cmd.tag, "BAD", reply::no_mailbox));
    return true;
  }
  std::vector<std::uint32_t> uids_before;  // for RFC 5267 UPDATE's REMOVEFROM
  if (!search_updates_.empty()) uids_before = selected_uids();
  const std::uint64_t scans_before = Mailbox::scan_serial();
  Completion done = (this->*(spec->handler))(cmd);
  // A command that scanned the folder (SELECT, STATUS of it, a conditional
  // STORE...) tells what that scan found; a change since is told after the
  // next command. IDLE may have scanned long before DONE: it rescans.
  bool rescan = !mailbox_ || !mailbox_->scanned_since(scans_before) || cmd.name == "IDLE";
  if (!logout_ && !fatal_) send_updates(spec->expunge_ok || cmd.uid, rescan);
  if (!logout_ && !fatal_ && notify_) notify_poll(false);
  if (!logout_ && !fatal_ && !search_updates_.empty()) context_updates(uids_before);
  emit(reply::tagged(cmd.tag, done.status, done.text));
  return !logout_ && !fatal_;
}

int Session::run(const std::string& login_tag) {
  if (login_tag.empty()) {
    emit("* PREAUTH [" + capability_line(settings_, true) + "] Logged in as " + login_ + "\r\n");
  } else {
    emit(reply::tagged(login_tag, "OK", "[" + capability_line(settings_, true) + "] " + std::string(reply::login_ok)));
  }
  (void)out_.flush();
  CommandLimits limits;
  limits.max_literal_bytes = settings_.max_literal_bytes;
  limits.max_message_bytes = settings_.max_message_bytes;
  std::string command, why;
  spool_.dir = root_ + "/tmp";
  int errors = 0;
  for (;;) {
    if (notify_active() && !notify_wait()) {
      emit("* BYE " + std::string(reply::autologout) + "\r\n");
      lib::log::info("user=%s: autologout", login_.c_str());
      break;
    }
    auto st = read_command(in_, out_, limits, command, why, &spool_);
    if (st == CommandStatus::rejected) {
      lib::log::info("user=%s: command rejected: %s", login_.c_str(), why.c_str());
      if (++errors > 100) {
        emit("* BYE Too many errors.\r\n");
        break;
      }
      continue;
    }
    if (st == CommandStatus::timeout) {
      emit("* BYE " + std::string(reply::autologout) + "\r\n");
      lib::log::info("user=%s: autologout", login_.c_str());
      break;
    }
    if (st == CommandStatus::eof) {
      lib::log::info("user=%s: disconnected", login_.c_str());
      break;
    }
    if (st == CommandStatus::fatal) {
      lib::log::info("user=%s: %s", login_.c_str(), why.c_str());
      break;
    }
    ParsedCommand cmd = parse_command(command);
    bool go_on = execute(cmd);
    auto f = out_.flush();
    if (!f) {
      lib::log::info("user=%s: %s", login_.c_str(), f.error().message.c_str());
      return 0;
    }
    if (compress_pending_ && !start_compress()) break;
    // Opening a folder scans it into temporary tables; give their freed heap
    // back, since a session then mostly waits (idle memory, issue 16).
    if (cmd.name == "SELECT" || cmd.name == "EXAMINE") ::malloc_trim(0);
    if (!go_on) break;
  }
  (void)out_.flush();
  return 0;
}

// ---------------------------------------------------------------------------
// Small commands.

Completion Session::cmd_capability(const ParsedCommand& c) {
  if (!c.args.empty()) return {"BAD", "CAPABILITY takes no arguments."};
  emit("* " + capability_line(settings_, true) + "\r\n");
  return {"OK", reply::completed("CAPABILITY")};
}

Completion Session::cmd_noop(const ParsedCommand& c) {
  if (!c.args.empty()) return {"BAD", "NOOP takes no arguments."};
  return {"OK", reply::completed("NOOP")};
}

Completion Session::cmd_check(const ParsedCommand& c) {
  if (!c.args.empty()) return {"BAD", "CHECK takes no arguments."};
  return {"OK", reply::completed("CHECK")};
}

Completion Session::cmd_logout(const ParsedCommand& c) {
  if (!c.args.empty()) return {"BAD", "LOGOUT takes no arguments."};
  emit("* BYE " + std::string(reply::logout) + "\r\n");
  logout_ = true;
  return {"OK", reply::completed("LOGOUT")};
}

Completion Session::cmd_id(const ParsedCommand& c) {
  if (c.args.size() != 1 || !(c.args[0].is_list() || c.args[0].kind == Value::Kind::nil))
    return {"BAD", "Syntax: ID ( field value ... ) or ID NIL."};
  emit("* ID (\"name\" \"Courier-compatible imapd\")\r\n");
  return {"OK", reply::completed("ID")};
}

Completion Session::cmd_enable(const ParsedCommand& c) {
  if (c.args.empty()) return {"BAD", "Syntax: ENABLE capability ..."};
  for (const auto& a : c.args)
    if (!a.is_atom_like()) return {"BAD", "Syntax: ENABLE capability ..."};
  // Unknown names are ignored (RFC 5161 3.1); CONDSTORE and QRESYNC are
  // handled in cmd_condstore.cpp.
  std::string enabled;
  for (const auto& a : c.args)
    if (enable_extension(a.text)) {
      enabled += ' ';
      std::string upper;
      for (char ch : a.text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      enabled += upper == "IMAP4REV2" ? "IMAP4rev2" : upper;  // as RFC 9051 spells it
    }
  emit("* ENABLED" + enabled + "\r\n");
  return {"OK", reply::completed("ENABLE")};
}

Completion Session::cmd_namespace(const ParsedCommand& c) {
  if (!c.args.empty()) return {"BAD", "NAMESPACE takes no arguments."};
  emit("* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\")(\"shared.\" \".\"))\r\n");
  return {"OK", reply::completed("NAMESPACE")};
}

Completion Session::cmd_starttls(const ParsedCommand&) { return {"BAD", "Already logged in; STARTTLS must come before LOGIN."}; }

Completion Session::cmd_authenticate(const ParsedCommand&) { return {"BAD", "Already logged in."}; }

// ---------------------------------------------------------------------------

void empty_trash(const std::string& root, const std::string& spec) {
  std::size_t pos = 0;
  std::time_t now = std::time(nullptr);
  while (pos < spec.size()) {
    std::size_t comma = spec.find_first_of(", ", pos);
    std::string item = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? spec.size() : comma + 1;
    std::size_t colon = item.rfind(':');
    if (colon == std::string::npos) continue;
    std::string folder = item.substr(0, colon);
    long days = std::strtol(item.c_str() + colon + 1, nullptr, 10);
    if (days <= 0 || !lib::maildir::validate_folder_name(folder)) continue;
    std::string dir = lib::maildir::folder_path(root, folder);
    for (const char* sub : {"/cur", "/new"}) {
      std::string d = dir + sub;
      lib::DirStream h(::opendir(d.c_str()));
      if (!h) continue;
      std::vector<std::string> old;
      while (dirent* e = ::readdir(h.get())) {
        if (e->d_name[0] == '.') continue;
        struct stat st {};
        std::string p = d + "/" + e->d_name;
        if (::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_ctime + days * 86400 < now)
          old.push_back(p);
      }
      for (const auto& p : old) ::unlink(p.c_str());
      if (!old.empty()) lib::log::info("IMAP_EMPTYTRASH: removed %zu old messages from %s", old.size(), d.c_str());
    }
  }
}

}  // namespace imapd
