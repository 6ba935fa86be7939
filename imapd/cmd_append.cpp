// imapd/cmd_append.cpp: APPEND (RFC 3501 6.3.11) with flags, keywords and
// internal date, answering APPENDUID (RFC 4315). The message is stored with
// LF line ends, as Courier does, through lib::maildir's tmp/ + rename.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <set>
#include <string>

#include "imapd/fetch.hpp"
#include "imapd/keywords.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"

namespace imapd {

Completion Session::cmd_append(const ParsedCommand& c) {
  if (c.args.size() < 2 || c.args.size() > 4) return {"BAD", "Syntax: APPEND mailbox [(flags)] [date-time] literal."};
  std::string why;
  auto name = mailbox_arg(c.args[0], why);
  if (!name) return {"NO", why};
  std::size_t i = 1;
  std::string letters;
  std::set<std::string> keywords;
  if (i < c.args.size() && c.args[i].is_list()) {
    for (const auto& f : c.args[i].items) {
      if (!f.is_atom_like()) return {"BAD", std::string(reply::invalid_flag)};
      std::string_view fl = f.str();
      if (char l = maildir_letter(fl)) {
        letters += l;
      } else if (!fl.empty() && fl[0] == '\\') {
        if (fl.size() == 7 && (fl == "\\Recent" || fl == "\\RECENT" || fl == "\\recent")) continue;
        return {"BAD", std::string(reply::invalid_system_flag)};
      } else if (valid_keyword(fl)) {
        keywords.emplace(fl);
      } else {
        return {"BAD", std::string(reply::invalid_keyword)};
      }
    }
    ++i;
  }
  std::optional<std::time_t> date;
  if (i + 1 < c.args.size()) {
    if (c.args[i].kind != Value::Kind::quoted) return {"BAD", "Invalid date-time."};
    auto d = parse_internal_date(c.args[i].str());
    if (!d) return {"BAD", "Invalid date-time."};
    date = d->time;
    ++i;
  }
  if (i + 1 != c.args.size() || !c.args[i].is_string()) return {"BAD", "Syntax: APPEND mailbox [(flags)] [date-time] literal."};
  std::string_view raw = c.args[i].str();
  // A large message was spooled to tmp/ by read_command (already LF).
  bool spooled = spool_.fd.valid() && raw.empty();
  if (raw.empty() && (!spooled || spool_.bytes == 0)) return {"NO", "Empty message."};
  std::string dir = folder_dir(*name);
  struct stat st {};
  if (::stat((dir + "/cur").c_str(), &st) != 0) return {"NO", std::string(reply::trycreate)};
  // CRLF -> LF, as stored by Courier and delivered by maildrop.
  std::string text;
  if (!spooled) {
    text.reserve(raw.size());
    for (std::size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] == '\r' && k + 1 < raw.size() && raw[k + 1] == '\n') continue;
      text += raw[k];
    }
  } else if (::lseek(spool_.fd.get(), 0, SEEK_SET) != 0) {
    lib::log::error("user=%s: APPEND: cannot rewind the spooled message: %s", login_.c_str(),
                    lib::errno_text(errno).c_str());
    return {"NO", "Cannot store the message now, see the log."};
  }
  lib::maildir::QuotaDeliveryOptions opts;
  opts.location = lib::maildir::Location::cur_dir;
  opts.flags = letters;
  opts.mtime = date;
  // Written to tmp/, checked against the account's maildirsize, then
  // published and counted (Courier's deliverquota rules).
  auto q = spooled ? lib::maildir::deliver_with_quota_from_fd(dir, spool_.fd.get(), opts)
                   : lib::maildir::deliver_with_quota(dir, text, opts);
  spool_.fd.reset();
  if (!q) {
    lib::log::error("user=%s: APPEND to %s: %s", login_.c_str(), dir.c_str(), q.error().message.c_str());
    return {"NO", "Cannot store the message now, see the log."};
  }
  if (q->status == lib::maildir::QuotaStatus::over_quota) {
    lib::log::info("user=%s: APPEND to %s refused: over quota (%s)", login_.c_str(), dir.c_str(),
                   q->check.quota.to_string().c_str());
    return {"NO", "[OVERQUOTA] Mailbox is over quota: delete or expunge messages first."};
  }
  if (!q->warning.empty()) lib::log::warning("user=%s: APPEND: %s", login_.c_str(), q->warning.c_str());
  const lib::maildir::Delivered* d = &q->delivered;
  if (!keywords.empty()) {
    auto w = update_keywords(dir, {{d->base, KeywordChange::Op::set, keywords}});
    if (!w) lib::log::error("user=%s: APPEND keywords: %s", login_.c_str(), w.error().message.c_str());
  }
  auto a = assign_uids(dir, {d->base}, nullptr);
  if (!a || a->uids[0] == 0) {
    if (a) return {"OK", "APPEND completed."};
    lib::log::error("user=%s: APPEND: %s", login_.c_str(), a.error().message.c_str());
    return {"OK", reply::completed("APPEND")};
  }
  return {"OK", "[APPENDUID " + std::to_string(a->uidvalidity) + " " + std::to_string(a->uids[0]) + "] APPEND completed."};
}

}  // namespace imapd
