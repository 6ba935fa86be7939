// imapd/cmd_copy.cpp: COPY and MOVE (RFC 3501 6.4.7, RFC 6851) and their UID
// forms, answering COPYUID (RFC 4315).
//
// COPY is all or nothing: every copy is first written to the target's tmp/,
// the total checked against the account's quota (NO [OVERQUOTA]), and only
// then are they published; a failure while publishing removes the ones
// already published, so a retry never duplicates messages.
// MOVE to another folder renames each file into the target's cur/ without
// ever replacing a file there (renameat2 RENAME_NOREPLACE, or link + unlink
// where the file system lacks it), so a message is never lost. MOVE into the
// selected mailbox itself is a COPY (new UIDs) followed by EXPUNGE.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "imapd/keywords.hpp"
#include "imapd/replies.hpp"
#include "imapd/sequence_set.hpp"
#include "imapd/session.hpp"
#include "imapd/shared_fs.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"

namespace imapd {
namespace {

// rename() that never replaces `to`: 0, or -1 with errno (EEXIST if taken).
int move_file(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  if (::link(from.c_str(), to.c_str()) != 0) return -1;
  ::unlink(from.c_str());
  return 0;
}

}  // namespace

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
  if (!name->dir.empty()) {  // into shared.* (imapd/shared_fs.hpp): stored in the sharable folder
    auto copied = shared_fs::copy_into(root_, *name, mb, *set, login_, why);
    if (!copied) return {"NO", why};
    if (move) {
      if (!mb.name().dir.empty()) shared_fs::expunge_targets(mb, *copied, login_);
      auto r = mb.expunge(*copied, "");
      if (r) emit(*r);
      else lib::log::error("user=%s: MOVE: %s", login_.c_str(), r.error().message.c_str());
    }
    return {"OK", reply::completed(move ? "MOVE" : "COPY")};
  }
  std::string target = folder_dir(*name);
  if (::access((target + "/cur").c_str(), F_OK) != 0) return {"NO", std::string(reply::trycreate)};
  if (auto no = refuse_unless(*name, "i")) return *no;  // RFC 4314 4
  if (move)
    if (auto no = refuse_unless_selected("te")) return *no;
  // Renaming within one folder would keep the UID; RFC 6851 wants new ones.
  // A shared folder's messages are links (imapd/shared_fs.hpp): copied, never renamed.
  bool by_rename = move && target != mb.dir() && mb.name().dir.empty();
  std::vector<std::uint32_t> src_uids;
  std::vector<std::string> bases;
  std::vector<KeywordChange> target_kw, source_kw;
  std::vector<bool> moved(mb.count(), false);
  bool vanished = false;
  bool failed = false;  // a message could not be moved (and stays here)
  if (by_rename) {
    std::int64_t moved_bytes = 0, moved_messages = 0;
    for (std::size_t idx : *set) {
      MessageState& m = mb.messages()[idx];
      if (m.vanished) {
        vanished = true;
        continue;
      }
      // rename keeps the base name: unique across the maildir's folders.
      bool done = false;
      for (int attempt = 0; attempt < 3 && !done; ++attempt) {
        std::string to = target + "/cur/" + lib::maildir::make_cur_name(m.base(), m.maildir_flags());
        if (move_file(mb.path_of(m), to) == 0) {
          done = true;
          break;
        }
        if (errno != ENOENT) {
          lib::log::error("user=%s: MOVE %s to %s: %s%s", login_.c_str(), mb.path_of(m).c_str(), to.c_str(),
                          lib::errno_text(errno).c_str(),
                          errno == EEXIST ? " (a message with this base name is there already: it is kept, and "
                                            "so is this one; remove one copy)"
                                          : "");
          failed = true;
          break;
        }
        auto found = lib::maildir::find_message(mb.dir(), m.base());
        if (!found || !*found) break;
        m.set_file_name((*found)->file_name);
        m.location = (*found)->location;
        auto p = lib::maildir::parse_message_name(m.file_name());
        if (p) m.set_maildir_flags(p->flags);
      }
      if (!done) {
        if (!failed) vanished = true;
        continue;
      }
      moved[idx] = true;
      if (!m.has_flag('T')) {
        (void)mb.stat_message(idx);
        moved_bytes += static_cast<std::int64_t>(m.size_bytes);
        ++moved_messages;
      }
      // Set whatever its keywords: the target's :list may still hold an
      // entry of this base name from when the message was expunged from
      // there (entries of gone messages are dropped lazily); an unchanged
      // set writes nothing.
      target_kw.push_back({std::string(m.base()), KeywordChange::Op::set, m.keywords()});
      if (!m.keywords().empty()) source_kw.push_back({std::string(m.base()), KeywordChange::Op::set, {}});
      src_uids.push_back(m.uid);
      bases.push_back(std::string(m.base()));
    }
    // Into or out of Trash changes what counts toward the quota.
    bool from_counts = lib::maildir::folder_counts_toward_quota(mb.dir());
    bool to_counts = lib::maildir::folder_counts_toward_quota(target);
    if (moved_messages > 0 && from_counts != to_counts) {
      int sign = to_counts ? 1 : -1;
      auto u = lib::maildir::update_quota(target, sign * moved_bytes, sign * moved_messages);
      if (!u) lib::log::warning("user=%s: %s", login_.c_str(), u.error().message.c_str());
    }
  } else {
    // Everything to tmp/ first; nothing is visible until all are written.
    std::vector<lib::maildir::PendingMessage> pending;
    std::int64_t add_bytes = 0, add_messages = 0;
    for (std::size_t idx : *set) {
      MessageState& m = mb.messages()[idx];
      if (m.vanished) {
        vanished = true;
        continue;
      }
      auto fd = mb.open_message(idx);
      if (!fd || !*fd) {
        vanished = true;
        continue;
      }
      lib::maildir::DeliveryOptions opts;
      opts.location = lib::maildir::Location::cur_dir;
      opts.flags = m.maildir_flags();
      (void)mb.stat_message(idx);
      if (m.internal_date) opts.mtime = m.internal_date;
      auto p = lib::maildir::write_tmp_message_from_fd(target, (*fd)->get(), opts);
      if (!p) {
        lib::log::error("user=%s: %s to %s: %s", login_.c_str(), move ? "MOVE" : "COPY", target.c_str(),
                        p.error().message.c_str());
        return {"NO", "Cannot copy now, see the log."};
      }
      if (!m.has_flag('T')) {
        add_bytes += static_cast<std::int64_t>(p->size_bytes());
        ++add_messages;
      }
      pending.push_back(std::move(*p));
      if (!m.keywords().empty()) target_kw.push_back({"", KeywordChange::Op::set, m.keywords()});
      else target_kw.push_back({"", KeywordChange::Op::set, {}});
      src_uids.push_back(m.uid);
      if (move) moved[idx] = true;
    }
    std::optional<lib::maildir::Quota> quota;
    if (!pending.empty() && lib::maildir::folder_counts_toward_quota(target)) {
      auto q = lib::maildir::Quota::open(target);
      if (!q) {
        lib::log::error("user=%s: %s", login_.c_str(), q.error().message.c_str());
      } else if (q->active()) {
        auto chk = q->check(add_bytes, add_messages);
        if (!chk) {
          lib::log::error("user=%s: %s", login_.c_str(), chk.error().message.c_str());
        } else if (chk->over_quota) {
          lib::log::info("user=%s: %s to %s refused: over quota (%s)", login_.c_str(), move ? "MOVE" : "COPY",
                         target.c_str(), chk->quota.to_string().c_str());
          return {"NO", "[OVERQUOTA] Mailbox is over quota: delete or expunge messages first."};
        }
        quota = std::move(*q);
      }
    }
    std::vector<std::string> published;
    for (std::size_t k = 0; k < pending.size(); ++k) {
      auto d = pending[k].commit();
      if (!d) {
        lib::log::error("user=%s: %s to %s: %s", login_.c_str(), move ? "MOVE" : "COPY", target.c_str(),
                        d.error().message.c_str());
        for (const auto& path : published) ::unlink(path.c_str());  // all or nothing
        return {"NO", "Cannot copy now, see the log."};
      }
      published.push_back(d->path);
      bases.push_back(d->base);
      target_kw[k].base = d->base;
    }
    if (quota) {
      auto a = quota->add(add_bytes, add_messages);
      if (!a) lib::log::warning("user=%s: %s", login_.c_str(), a.error().message.c_str());
    }
    std::erase_if(target_kw, [](const KeywordChange& k) { return k.keywords.empty(); });
  }
  if (!target_kw.empty()) {
    auto w = update_keywords(target, target_kw);
    if (!w) lib::log::error("user=%s: keywords in %s: %s", login_.c_str(), target.c_str(), w.error().message.c_str());
  }
  if (!source_kw.empty()) {
    auto w = update_keywords(mb.dir(), source_kw);
    if (!w) lib::log::error("user=%s: keywords in %s: %s", login_.c_str(), mb.dir().c_str(), w.error().message.c_str());
  }
  std::string code;
  if (!bases.empty()) {
    auto a = assign_uids(target, bases, nullptr);
    if (a && std::find(a->uids.begin(), a->uids.end(), 0u) == a->uids.end()) {
      code = "[COPYUID " + std::to_string(a->uidvalidity) + " " + format_numbers(src_uids) + " " +
             format_numbers(a->uids) + "] ";
    } else if (!a) {
      lib::log::error("user=%s: %s", login_.c_str(), a.error().message.c_str());
    }
  }
  if (move) {
    // RFC 6851 3.3: COPYUID goes in an untagged OK before the EXPUNGEs.
    if (!code.empty()) emit("* OK " + code + "Moved.\r\n");
    std::vector<bool> which(mb.count(), false);
    for (std::size_t i = 0; i < moved.size(); ++i) {
      if (!moved[i]) continue;
      if (by_rename) mb.messages()[i].vanished = true;  // already gone from here
      else which[i] = true;                             // copied: remove the original
    }
    if (!by_rename) (void)mb.refresh(true);  // the copies, when moved into this mailbox
    if (!mb.name().dir.empty()) shared_fs::expunge_targets(mb, which, login_);
    auto r = mb.expunge(which, "");
    if (r) emit(*r);
    else lib::log::error("user=%s: MOVE: %s", login_.c_str(), r.error().message.c_str());
    if (failed) return {"NO", "Some messages could not be moved and are still here, see the log."};
    if (vanished) return {"NO", std::string(reply::expunge_issued)};
    return {"OK", reply::completed("MOVE")};
  }
  if (vanished) return {"NO", std::string(reply::expunge_issued)};
  return {"OK", code + reply::completed("COPY")};
}

}  // namespace imapd
