// pop3d/mailbox.hpp: the Maildir as one POP3 session sees it (RFC 1939
// section 5): a snapshot taken at login, numbered 1..n, with Courier's UIDLs.
//
// Opening does what Courier's pop3d does, in this order:
//   1. purges tmp/ of files older than 36 hours;
//   2. moves new/ to cur/ (adding ":2,"), as maildir_getnew does;
//   3. lists cur/ (one readdir, no stat, no open) and sorts it by delivery
//      time (Courier's order);
//   4. takes size and UID of each message from courierpop3dsizelist; only
//      messages it does not know are read once to measure them (or take
//      ",W=" from their name), get the next UID, and the list is rewritten
//      (tmp/ + fsync + rename).
// Steps 2-4 run under flock() on cur/, so two POP3 sessions starting together
// hand out the same UIDs. Mail that arrives later waits for the next session.
//
// Concurrent IMAP (or POP3) sessions may rename a message (flags) or remove it
// at any time: a renamed message is found again by its base name; a removed
// one gives "vanished", never a crash. Deletions happen only in remove_deleted
// (the UPDATE state), and update maildirsize like Courier.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace pop3d {

struct Pop3Message {
  std::string file_name;   // current name in cur/ (flags included)
  std::uint64_t size = 0;  // POP3 size (CRLF line ends)
  std::uint64_t uid = 0;
  std::uint64_t uidv = 0;
  bool utf8 = false;
  bool deleted = false;  // DELE'd in this session (undone by RSET)
};

struct OpenReport {
  size_t moved_from_new = 0;  // new/ -> cur/
  size_t measured = 0;        // messages read to learn their size (new to the list)
  bool list_written = false;  // courierpop3dsizelist was rewritten
  std::vector<std::string> warnings;  // for the log: what went wrong but was worked around
};

struct UpdateReport {
  size_t removed = 0;         // files unlinked (or already gone)
  std::uint64_t removed_bytes = 0;  // their POP3 sizes
  size_t failed = 0;          // could not be removed
  std::vector<std::string> errors;   // for the log
  std::vector<std::string> removed_names;  // for POP3_LOG_DELETIONS
};

class Mailbox {
 public:
  // Opens the Maildir at `maildir` (a path; "." once the process is in it).
  // Errors: cur/ missing or unreadable (permanent), other failures
  // (temporary); each names the path, the errno text and the fix.
  static lib::Result<Mailbox> open(const std::string& maildir, OpenReport& report);

  size_t count() const { return messages_.size(); }
  // 0-based; the POP3 number is index + 1.
  const Pop3Message& message(size_t index) const { return messages_[index]; }
  void set_deleted(size_t index, bool deleted) { messages_[index].deleted = deleted; }
  void undelete_all();
  // The UIDL of a message (sizelist.hpp format_uidl, or Courier's ENOMEM
  // fallback when the list could not be written).
  std::string uidl(size_t index) const;

  // Opens message `index` for reading. If it was renamed meanwhile (flags),
  // it is found again by its base name. nullopt: it is gone (expunged by
  // another session). Other failures: temporary errors.
  lib::Result<std::optional<lib::UniqueFd>> open_message(size_t index);

  // Adds the S (seen) flag after RETR, as Courier does, unless the name
  // carries info other than ":2,..." or already has S. Failures only matter
  // to the log and are returned as text.
  std::optional<std::string> mark_seen(size_t index);

  // The UPDATE state: removes the messages marked deleted and records the
  // change in maildirsize.
  UpdateReport remove_deleted();

  const std::string& path() const { return maildir_; }

 private:
  std::string maildir_;
  std::vector<Pop3Message> messages_;
  std::string enomem_uidl_;  // set: the single message shown after a failed list write
};

}  // namespace pop3d
