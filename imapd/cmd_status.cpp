// imapd/cmd_status.cpp: STATUS (RFC 3501 6.3.10) with SIZE (RFC 8438
// STATUS=SIZE) and DELETED, DELETED-STORAGE (KiB; RFC 9208 QUOTA).
#include <algorithm>
#include <string>

#include "imapd/objectid.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "imapd/shared_fs.hpp"
#include "lib/log.hpp"

namespace imapd {

// RFC 7162 3.1.10 STATUS HIGHESTMODSEQ, 0 when it cannot be had.
std::uint64_t Session::status_highest_modseq(const FolderName& name) {
  if (mailbox_ && mailbox_->name().folder == name.folder) return mailbox_->highest_modseq();
  auto h = folder_highest_modseq(folder_dir(name));
  if (!h) lib::log::error("user=%s: STATUS HIGHESTMODSEQ: %s", login_.c_str(), h.error().message.c_str());
  return h ? *h : 0;
}

bool valid_status_items(const Value& items) {
  if (!items.is_list() || items.items.empty()) return false;
  for (const auto& it : items.items)
    if (!it.is_word("MESSAGES") && !it.is_word("RECENT") && !it.is_word("UIDNEXT") &&
        !it.is_word("UIDVALIDITY") && !it.is_word("UNSEEN") && !it.is_word("SIZE") &&
        !it.is_word("DELETED") && !it.is_word("DELETED-STORAGE") && !it.is_word("HIGHESTMODSEQ") &&
        !it.is_word("MAILBOXID"))
      return false;
  return true;
}

std::optional<std::string> Session::status_response(const FolderName& name, const Value& items,
                                                    Completion& failure) {
  bool with_size = std::any_of(items.items.begin(), items.items.end(), [](const Value& v) {
    return v.is_word("SIZE") || v.is_word("DELETED-STORAGE");
  });
  MailboxStatus st;
  if (mailbox_ && mailbox_->name().folder == name.folder) {
    (void)mailbox_->refresh();
    st.messages = static_cast<std::uint32_t>(mailbox_->count());
    st.recent = mailbox_->recent_count();
    for (const auto& m : mailbox_->messages()) {
      if (!m.has_flag('S')) ++st.unseen;
      if (!m.vanished && m.has_flag('T')) ++st.deleted;
    }
    st.uidnext = mailbox_->uidnext();
    st.uidvalidity = mailbox_->uidvalidity();
    if (with_size)
      for (auto& m : mailbox_->messages()) {
        if (m.vanished) continue;
        if (!m.crlf_size)
          if (auto n = file_crlf_size(mailbox_->dir() + "/" + std::string(lib::maildir::location_dir(m.location)) +
                                      "/" + std::string(m.file_name())))
            m.crlf_size = *n;
        st.size += m.crlf_size.value_or(0);
        if (m.has_flag('T')) st.deleted_size += m.crlf_size.value_or(0);
      }
  } else {
    auto r = folder_status(folder_dir(name), with_size);
    if (!r) {
      if (r.error().kind == lib::ErrorKind::permanent || r.error().message.find("No such file") != std::string::npos) {
        failure = {"NO", std::string(reply::no_such_mailbox)};
        return std::nullopt;
      }
      lib::log::error("user=%s: STATUS: %s", login_.c_str(), r.error().message.c_str());
      failure = {"NO", std::string(reply::server_error)};
      return std::nullopt;
    }
    st = *r;
  }
  std::string out = "* STATUS " + wire_name(name.imap_name) + " (";
  bool first = true;
  for (const auto& it : items.items) {
    if (!first) out += ' ';
    first = false;
    if (it.is_word("MESSAGES")) out += "MESSAGES " + std::to_string(st.messages);
    else if (it.is_word("RECENT")) out += "RECENT " + std::to_string(st.recent);
    else if (it.is_word("UIDNEXT")) out += "UIDNEXT " + std::to_string(st.uidnext);
    else if (it.is_word("UIDVALIDITY")) out += "UIDVALIDITY " + std::to_string(st.uidvalidity);
    else if (it.is_word("SIZE")) out += "SIZE " + std::to_string(st.size);
    else if (it.is_word("DELETED")) out += "DELETED " + std::to_string(st.deleted);
    else if (it.is_word("DELETED-STORAGE")) out += "DELETED-STORAGE " + std::to_string((st.deleted_size + 1023) / 1024);
    else if (it.is_word("HIGHESTMODSEQ")) out += "HIGHESTMODSEQ " + std::to_string(status_highest_modseq(name));
    else if (it.is_word("MAILBOXID")) {  // OBJECTID (RFC 8474)
      auto id = mailbox_id(folder_dir(name));
      if (!id) {
        lib::log::error("user=%s: STATUS: %s", login_.c_str(), id.error().message.c_str());
        failure = {"NO", std::string(reply::server_error)};
        return std::nullopt;
      }
      out += "MAILBOXID (" + *id + ")";
    }
    else out += "UNSEEN " + std::to_string(st.unseen);
  }
  return out + ")\r\n";
}

Completion Session::cmd_status(const ParsedCommand& c) {
  if (c.args.size() != 2 || !c.args[1].is_list() || c.args[1].items.empty())
    return {"BAD", "Syntax: STATUS mailbox (items)."};
  std::string why;
  auto name = mailbox_arg(c.args[0], why);
  if (!name) return {"NO", why};
  if (!valid_status_items(c.args[1])) return {"BAD", "Unknown STATUS item."};
  if (rev2_ && std::any_of(c.args[1].items.begin(), c.args[1].items.end(),
                           [](const Value& v) { return v.is_word("RECENT"); }))
    return {"BAD", "STATUS RECENT is not part of IMAP4rev2 (RFC 9051 has no \\Recent)."};
  if (auto no = refuse_unless(*name, "r")) return *no;  // RFC 4314 4
  if (!name->dir.empty())  // shared.NICK.FOLDER: sync the account's copy first
    if (auto p = shared_fs::prepare(root_, *name); !p) {
      lib::log::error("user=%s: STATUS %s: %s", login_.c_str(), name->imap_name.c_str(), p.error().message.c_str());
      return {"NO", "[NONEXISTENT] " + p.error().message + "."};
    }
  Completion failure;
  auto line = status_response(*name, c.args[1], failure);
  if (!line) return failure;
  emit(*line);
  return {"OK", reply::completed("STATUS")};
}

}  // namespace imapd
