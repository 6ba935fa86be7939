// imapd/shared_fs.hpp: Courier's filesystem shared folders, the "shared."
// namespace (RFC 2342 other users'/shared namespace; Courier's
// README.sharedfolders, "Filesystem permissions-based shared folders").
//
// A sharable maildir (maildirmake -S) holds sharable folders (maildirmake -s
// read|write[,group] -f NAME), their access given by Unix permissions. An
// account reaches the sharable maildirs listed in @sysconfdir@/maildirshared
// and in its own Maildir/shared-maildirs (lib/shared_maildirs.hpp); IMAP shows
// each readable folder NAME of sharable maildir NICK as "shared.NICK.NAME".
//
// On disk, per account (Courier's layout, so both servers share it):
//   Maildir/shared-folders/NICK/NAME/           the account's copy, a maildir
//   Maildir/shared-folders/NICK/NAME/shared     symlink to the sharable folder
//   Maildir/shared-folders/NICK/NAME/cur/X:2,FL symlink to shared/cur/X:2,...
//   Maildir/shared-folders/NICK/NAME/shared-timestamp   time of the last sync
// The copy's links carry the account's own flags in their names, so \Seen is
// per account. Links are symbolic, as Courier's: the owner's expunge frees the
// space at once, and a reader needs no write access to the sharable folder.
//
// Sync (at SELECT/EXAMINE/STATUS, and before the updates after each command
// while one is selected, so NOOP and IDLE show new mail; skipped while the
// sharable folder's new/ and cur/ are older than shared-timestamp):
//   1. messages in the sharable folder's new/ move to its cur/ (when allowed);
//   2. a link whose message is gone from the sharable cur/ is removed;
//   3. a link whose message was renamed (its owner changed flags) is pointed
//      at the new name, atomically (a new link in tmp/, renamed over);
//   4. a message without a link gets one in new/, named BASE:2, (unseen).
// Every step is a link or rename, so a sync interrupted at any point leaves
// a consistent copy that the next sync completes.
//
// Access: the folder is read-only to the account when its cur/ is not
// writable by it (access(2)); APPEND, STORE and EXPUNGE are then refused.
// EXPUNGE of a writable folder removes the message from the sharable folder
// (the sticky bit lets only its owner and the folder's owner do so); when
// that is refused, the message stays (Courier's rule).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/folders.hpp"
#include "lib/result.hpp"

namespace imapd {
class Mailbox;
}

namespace imapd::shared_fs {

inline constexpr std::string_view namespace_root = "shared";
inline constexpr std::string_view not_managed_text =
    "[CANNOT] Shared folders are made and removed by the owner of the sharable maildir (maildirmake -s, "
    "maildirmake --add/--del).";

// "shared" or "shared.<anything>" (case-sensitive, as Courier).
bool is_shared_name(std::string_view utf8_name);

// Resolves "shared.NICK.NAME" for the account whose maildir is `root`: NICK
// must be a reachable sharable maildir and NAME a valid folder name. The
// result's `dir` is the account's copy (it may not exist yet). nullopt with a
// NO text in `why`.
std::optional<FolderName> resolve(const std::string& root, std::string_view utf8_name, std::string& why);

struct ListEntry {
  std::string imap_name;  // "shared", "shared.NICK", "shared.NICK.NAME"
  bool selectable = false;
  bool has_children = false;
};

// What LIST shows in the shared. namespace for this account, in name order:
// the namespace root and each NICK (\Noselect), and every folder of each
// reachable sharable maildir that the account can read. Problems (a bad
// line, an unreadable sharable maildir) are logged with `login`, naming the
// file or path and the errno text; they hide only what they concern.
std::vector<ListEntry> list(const std::string& root, const std::string& login);

struct Prepared {
  bool read_only = false;  // the sharable folder's cur/ is not writable by us
  std::string sharable_dir;
};

// Makes the account's copy of a resolved shared folder when missing and
// syncs it. Fails (permanent; the message names the IMAP folder, the path
// and the errno text) when the sharable folder is gone or unreadable, or
// (temporary) when the copy cannot be written.
lib::Result<Prepared> prepare(const std::string& root, const FolderName& name);

// The sharable folder to APPEND into, or nullopt with a NO text in `why`
// ([NOPERM] when read-only to the account).
std::optional<std::string> append_dir(const std::string& root, const FolderName& name, std::string& why);

// After APPEND into sharable folder `dir`: the new files get the folder's
// read permissions (others must read them), then the copy is synced.
void after_append(const std::string& root, const FolderName& name, const std::string& dir,
                  const std::vector<std::string>& paths, const std::string& login);

// COPY/MOVE of messages `indexes` of `src` into shared folder `name`: each is
// stored in the sharable folder as a new message (Courier's rule: no flags;
// every reader sees it unseen), then the copy is synced. Returns which
// source messages were copied (vanished ones are skipped), or nullopt with a
// NO text in `why` (nothing is left half copied: stored files are removed).
std::optional<std::vector<bool>> copy_into(const std::string& root, const FolderName& name, Mailbox& src,
                                           const std::vector<std::size_t>& indexes, const std::string& login,
                                           std::string& why);

// Before EXPUNGE of a shared folder's copy: removes from the sharable folder
// each message marked in `which`; a message this account may not remove is
// unmarked (it stays, as in Courier). Returns how many were kept.
std::size_t expunge_targets(const Mailbox& mb, std::vector<bool>& which, const std::string& login);

// The text of NO for STORE/EXPUNGE/APPEND in a shared folder read-only to us.
std::string read_only_text(std::string_view imap_name);

// NO text for STORE/EXPUNGE in read-only `mb`: read_only_text for a shared
// folder not writable by us, `plain` (EXAMINE) otherwise.
std::string read_only_reply(const Mailbox& mb, std::string_view plain);

}  // namespace imapd::shared_fs
