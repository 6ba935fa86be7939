// imapd/cmd_copy.cpp: COPY and MOVE (RFC 3501 6.4.7, RFC 6851) and their UID
// forms, answering COPYUID (RFC 4315). COPY writes a new file in the target
// (a hard link when possible: same bytes, new name); MOVE renames the file
// into the target, so a message is never in both or neither.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "imapd/keywords.hpp"
#include "imapd/replies.hpp"
#include "imapd/sequence_set.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd {

Completion Session::cmd_copy(const ParsedCommand& c) { return copy_or_move(c, false); }
Completion Session::cmd_move(const ParsedCommand& c) { return copy_or_move(c, true); }

Completion Session::copy_or_move(const ParsedCommand& c, bool move) {
  if (c.args.size() != 2) return {"BAD", std::string("Syntax: ") + (move ? "MOVE" : "COPY") + " sequence-set mailbox."};
  auto set = message_set(c.args[0], c.uid);
  if (!set) return {"BAD", std::string(reply::invalid_sequence_set)};
  std::string why;
  auto name = mailbox_arg(c.args[1], why);
  if (!name) return {"NO", why};
  Mailbox& mb = *mailbox_;
  if (move && mb.read_only()) return {"NO", std::string(reply::read_only)};
  std::string target = folder_dir(*name);
  if (::access((target + "/cur").c_str(), F_OK) != 0) return {"NO", std::string(reply::trycreate)};
  if (target == mb.dir() && move) return {"NO", "Source and target are the same mailbox."};
  std::vector<std::uint32_t> src_uids;
  std::vector<std::string> bases;
  std::vector<bool> moved(mb.count(), false);
  KeywordMap target_kw;
  bool have_kw = false;
  bool vanished = false;
  for (std::size_t idx : *set) {
    MessageState& m = mb.messages()[idx];
    if (m.vanished) {
      vanished = true;
      continue;
    }
    std::string new_base;
    if (move) {
      // rename keeps the base name: unique across the maildir's folders.
      bool done = false;
      for (int attempt = 0; attempt < 3 && !done; ++attempt) {
        std::string to = target + "/cur/" + lib::maildir::make_cur_name(m.base, m.maildir_flags);
        if (::rename(mb.path_of(m).c_str(), to.c_str()) == 0) {
          done = true;
          break;
        }
        if (errno != ENOENT) {
          lib::log::error("user=%s: MOVE %s: %s", login_.c_str(), mb.path_of(m).c_str(), lib::errno_text(errno).c_str());
          break;
        }
        auto found = lib::maildir::find_message(mb.dir(), m.base);
        if (!found || !*found) break;
        m.file_name = (*found)->file_name;
        m.location = (*found)->location;
      }
      if (!done) {
        vanished = true;
        continue;
      }
      new_base = m.base;
      moved[idx] = true;
    } else {
      auto fd = mb.open_message(idx);
      if (!fd || !*fd) {
        vanished = true;
        continue;
      }
      lib::maildir::DeliveryOptions opts;
      opts.location = lib::maildir::Location::cur_dir;
      opts.flags = m.maildir_flags;
      (void)mb.stat_message(idx);
      if (m.internal_date) opts.mtime = m.internal_date;
      auto d = lib::maildir::deliver_from_fd(target, (*fd)->get(), opts);
      if (!d) {
        lib::log::error("user=%s: COPY to %s: %s", login_.c_str(), target.c_str(), d.error().message.c_str());
        return {"NO", "Cannot copy now, see the log."};
      }
      new_base = d->base;
    }
    if (!m.keywords.empty()) {
      if (!have_kw) {
        auto k = read_keywords(target);
        if (k) target_kw = std::move(*k);
        have_kw = true;
      }
      target_kw[new_base] = m.keywords;
    }
    src_uids.push_back(m.uid);
    bases.push_back(new_base);
  }
  if (have_kw) {
    auto w = write_keywords(target, target_kw);
    if (!w) lib::log::error("user=%s: keywords in %s: %s", login_.c_str(), target.c_str(), w.error().message.c_str());
  }
  std::string code;
  if (!bases.empty()) {
    auto a = assign_uids(target, bases, nullptr);
    if (a) {
      code = "[COPYUID " + std::to_string(a->uidvalidity) + " " + format_numbers(src_uids) + " " +
             format_numbers(a->uids) + "] ";
    } else {
      lib::log::error("user=%s: %s", login_.c_str(), a.error().message.c_str());
    }
  }
  if (move) {
    // RFC 6851 3.3: COPYUID goes in an untagged OK before the EXPUNGEs.
    if (!code.empty()) emit("* OK " + code + "Moved.\r\n");
    for (std::size_t i = 0; i < moved.size(); ++i)
      if (moved[i]) mb.messages()[i].vanished = true;
    auto r = mb.expunge(std::vector<bool>(mb.count(), false), "");
    if (r) emit(*r);
    if (vanished) return {"NO", std::string(reply::expunge_issued)};
    return {"OK", reply::completed("MOVE")};
  }
  if (vanished) return {"NO", std::string(reply::expunge_issued)};
  return {"OK", code + reply::completed("COPY")};
}

}  // namespace imapd
