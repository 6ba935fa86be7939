// lib/maildir.hpp: Maildir and Maildir++ on disk, as Courier lays them out, so
// existing Courier mailboxes work unchanged (COURIER-COMPAT.md section 12).
//   - Maildir: tmp/ new/ cur/, unique names, delivery through tmp/ + link
//     (https://cr.yp.to/proto/maildir.html).
//   - Maildir++: folders are `.Name.Sub` directories directly under the root,
//     each with an empty `maildirfolder` file; names are UTF-8 on disk.
//   - Message names: `time.MusecPpidVdevIino.host,S=size[:2,FLAGS]`, flags in
//     ASCII order; the part before ':' (the base name) never changes and is what
//     courierimapuiddb records.
// Nothing here locks: every change is one rename/link/mkdir, which is atomic, and
// every reader copes with a file moving under it (see change_flags).
// Quotas (maildirsize) are in lib/maildir_quota.hpp.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/atomic_file.hpp"
#include "lib/result.hpp"

namespace lib::maildir {

// A directory entry name cannot be longer than this on Linux (NAME_MAX).
inline constexpr std::size_t max_file_name_bytes = 255;
// ".Name.Sub" must fit one directory entry, the leading '.' included.
inline constexpr std::size_t max_folder_name_bytes = max_file_name_bytes - 1;
// Courier (and qmail) remove files from tmp/ that are older than 36 hours.
inline constexpr std::time_t tmp_max_age_s = 36 * 60 * 60;

// ---------------------------------------------------------------------------
// Maildirs and Maildir++ folders
// ---------------------------------------------------------------------------

// Creates the maildir `path` (its parent must exist) with cur/, new/ and tmp/,
// directories with `mode`. tmp/ comes last, as in Courier: its presence means
// the maildir is complete. Parts that already exist as directories are kept, so
// this also repairs a maildir missing a subdirectory.
// Fails (permanent) if path or a part exists and is not a directory; other
// failures are temporary. Messages name the path and the errno text.
Result<void> create_maildir(const std::string& path, mode_t mode = 0700);

// Checks a Maildir++ folder name as given by a client or an admin, without the
// leading '.' of its directory ("Sent", "Lists.courier"). Refused, with a
// permanent error saying why: empty names, names over max_folder_name_bytes,
// a leading '.', empty components ("a..b", "a."), '/', control characters
// (0x00-0x1f, 0x7f) and invalid UTF-8. "INBOX" handling is the caller's.
Result<void> validate_folder_name(std::string_view name);

// The directory of folder `name` under `root`: root + "/." + name, or root
// itself for the empty name (the INBOX). Does not validate.
std::string folder_path(const std::string& root, std::string_view name);

// Creates folder `name` under root: `.name` with cur/ new/ tmp/ and an empty
// `maildirfolder` file. The folder is built in root/tmp/ and renamed into place,
// so nobody ever sees a half-made folder and of two concurrent creators exactly
// one wins. Parents are not created ("a.b" may exist without "a", as in Courier).
// Returns true if created, false if the folder already existed.
Result<bool> create_folder(const std::string& root, std::string_view name, mode_t mode = 0700);

struct FolderEntry {
  std::string name;           // "Sent.2024", UTF-8 as on disk, no leading '.'
  bool exists = true;         // false: only implied by a child (IMAP \NonExistent)
  bool has_children = false;  // some other entry is name + ".something"
};

// Lists the folders under root, sorted by name (byte order). A directory entry
// counts if it starts with '.', is a directory (symlinks followed, for shared
// folders) and its name passes validate_folder_name; anything else is skipped,
// because no other function here could address it. Parents missing on disk are
// listed with exists = false. The root itself (INBOX) is not listed.
Result<std::vector<FolderEntry>> list_folders(const std::string& root);

// Deletes folder `name` (and with with_children, every `name.*` folder too).
// Each folder directory is first renamed into root/tmp/, so it vanishes at
// once, then removed recursively there (symlinks are removed, never followed).
// Fails (permanent) for the empty name, an invalid name or a missing folder.
// Quota: the caller subtracts what it deleted, or lets maildirsize recalculate.
Result<void> delete_folder(const std::string& root, std::string_view name, bool with_children);

// Renames folder `from` to `to` together with all its children (`from.x` ->
// `to.x`), as Courier's maildir_rename does. `from` itself need not exist if
// it has children (renaming a hierarchy level). Refused (permanent) if a name
// is invalid, `to` is `from` or lies under it, nothing is named `from`, or a
// target already exists. If one rename fails the ones done are undone.
Result<void> rename_folder(const std::string& root, std::string_view from, std::string_view to);

// ---------------------------------------------------------------------------
// Message file names
// ---------------------------------------------------------------------------

enum class Location { new_dir, cur_dir };

// "new" or "cur".
std::string_view location_dir(Location location);

struct MessageName {
  std::string base;  // the name up to the first ':', stable across flag changes
  std::optional<std::uint64_t> size_bytes;          // ",S=<n>" in base
  std::optional<std::uint64_t> virtual_size_bytes;  // ",W=<n>" (CRLF size)
  bool has_flags_info = false;                      // the name carries ":2,"
  std::string flags;                                // normalized (see normalize_flags)
  std::string other_info;  // info not of the form "2,..." (e.g. ":1,x"), kept raw
};

// Parses a message file name (no directory). Returns nullopt for names no
// maildir reader may use: empty, longer than max_file_name_bytes, starting
// with '.', containing '/' or NUL. Never fails otherwise: a name without S=
// has no size_bytes, an S= with no digits or over 2^64 is treated as absent,
// flags keep only ASCII letters.
std::optional<MessageName> parse_message_name(std::string_view file_name);

// Flags as the Maildir spec wants them: ASCII letters only (D F P R S T and
// custom lower-case ones), each once, in ASCII order ("TSaDa" -> "DSTa").
// Anything else is dropped.
std::string normalize_flags(std::string_view flags);

// base + ":2," + normalize_flags(flags). The name of a message in cur/.
std::string make_cur_name(std::string_view base, std::string_view flags);

// True if the (normalized) flags contain c.
bool has_flag(std::string_view flags, char c);

// ---------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------

struct DeliveryOptions {
  Location location = Location::new_dir;  // cur_dir: e.g. IMAP APPEND
  std::string flags;                      // with cur_dir only: the message flags
  std::optional<std::time_t> mtime;       // set the file time (IMAP internal date)
  std::uint64_t max_message_bytes = 0;    // 0: no limit; larger messages are refused
  mode_t file_mode = 0600;
};

struct Delivered {
  std::string path;       // full path of the delivered file
  std::string file_name;  // its name in new/ or cur/
  std::string base;       // the stable base name
  std::uint64_t size_bytes = 0;
  Location location = Location::new_dir;
};

// A message written to tmp/ and fsynced, not yet visible to readers. Made by
// write_tmp_message*, published by commit(); destroying it uncommitted removes
// the tmp file. This split lets the quota code check the real size in between.
class PendingMessage {
 public:
  PendingMessage(PendingMessage&& other) noexcept;
  PendingMessage& operator=(PendingMessage&& other) noexcept;
  PendingMessage(const PendingMessage&) = delete;
  PendingMessage& operator=(const PendingMessage&) = delete;
  ~PendingMessage();

  std::uint64_t size_bytes() const { return size_bytes_; }
  const std::string& tmp_path() const { return tmp_path_; }
  const std::string& maildir() const { return maildir_; }
  Location location() const { return location_; }
  const std::string& flags() const { return flags_; }

  // Links the file into new/ (or cur/ with its flags) under its final name
  // `time.MusecPpidVdevIino.host,S=size`, fsyncs that directory and removes
  // the tmp name. On failure nothing is left behind and the error is
  // temporary. Call once.
  Result<Delivered> commit();

  // Removes the tmp file now (also done by the destructor).
  void discard() noexcept;

 private:
  friend struct PendingMessageMaker;
  PendingMessage() = default;

  std::string maildir_;
  std::string tmp_path_;
  std::string final_stem_;  // final name without ",S=" and info
  std::string flags_;
  Location location_ = Location::new_dir;
  std::uint64_t size_bytes_ = 0;
  bool done_ = true;  // nothing to clean up
};

// Writes `message` into maildir/tmp/ under a unique name
// (`time.MusecPpid.host,S=size`, `_n` after the pid if that name was taken),
// fsyncs it and closes it. Errors are temporary (ENOSPC, EDQUOT, EACCES, a
// missing maildir...) except a message over max_message_bytes (permanent);
// they name the path and errno text, and no tmp file is left.
Result<PendingMessage> write_tmp_message(const std::string& maildir, std::string_view message,
                                         const DeliveryOptions& options = {});

// The same, copying from fd (read to EOF through a 64 KiB buffer; the size
// is counted while copying, so the tmp name has no S= yet).
Result<PendingMessage> write_tmp_message_from_fd(const std::string& maildir, int fd,
                                                 const DeliveryOptions& options = {});

// write_tmp_message + commit: an atomic, durable delivery.
Result<Delivered> deliver(const std::string& maildir, std::string_view message,
                          const DeliveryOptions& options = {});
Result<Delivered> deliver_from_fd(const std::string& maildir, int fd,
                                  const DeliveryOptions& options = {});

// Removes files in maildir/tmp/ whose last change (the later of mtime and
// ctime) is at least max_age_s before `now`. Entries starting with '.' and
// non-files are left alone. Returns how many files were removed. Files that
// vanish meanwhile are not errors.
Result<std::size_t> purge_tmp(const std::string& maildir, std::time_t max_age_s = tmp_max_age_s,
                              std::time_t now = std::time(nullptr));

// ---------------------------------------------------------------------------
// Flags and new/ -> cur/
// ---------------------------------------------------------------------------

// Changes the flags of the message currently named `file_name` (in cur/ or in
// new/) by adding `add` and removing `remove`, computed from the name found on
// disk at rename time, so concurrent changes by other processes are not lost.
// The message ends up in cur/ as make_cur_name(base, flags).
// If the file was renamed or moved by another process meanwhile (ENOENT), cur/
// and new/ are scanned for the same base name and the change is retried.
// Returns the new file name, or nullopt if the message vanished (expunged by
// someone else). Errors: an unparseable name (permanent), rename failures
// other than ENOENT (temporary).
Result<std::optional<std::string>> change_flags(const std::string& maildir,
                                                std::string_view file_name, std::string_view add,
                                                std::string_view remove);

// Sets the flags to exactly `flags`, otherwise as change_flags.
Result<std::optional<std::string>> set_flags(const std::string& maildir, std::string_view file_name,
                                             std::string_view flags);

// Finds the current name of the message with this base name: cur/ first,
// then new/. nullopt if it is gone.
struct FoundMessage {
  std::string file_name;
  Location location = Location::new_dir;
};
Result<std::optional<FoundMessage>> find_message(const std::string& maildir, std::string_view base);

struct NewToCur {
  std::vector<std::string> moved;   // names now in cur/
  std::vector<std::string> errors;  // per-file failures, for the log
};

// Moves every message from new/ to cur/ the way Courier's maildir_getnew
// does: ":2," is appended (a name with other info loses it). Files taken by a
// concurrent reader first are skipped silently. Fails only if new/ cannot be
// read.
Result<NewToCur> move_new_to_cur(const std::string& maildir);

// ---------------------------------------------------------------------------
// Scanning
// ---------------------------------------------------------------------------

struct MessageInfo {
  std::string file_name;
  Location location = Location::new_dir;
  std::string base;
  std::string flags;
  std::uint64_t size_bytes = 0;
  bool size_from_name = false;  // from ",S=", else from stat
  std::optional<std::uint64_t> virtual_size_bytes;
  std::time_t mtime = 0;  // 0 if not stat'ed
};

// Sorts messages in delivery order: by the time their base names start with
// ("<seconds>.M<microseconds>", compared as numbers), then by base name.
void sort_in_delivery_order(std::vector<MessageInfo>& messages);

// Lists the messages of one maildir or folder (new/ then cur/), in delivery
// order (sort_in_delivery_order), never opening a message. With stat_files, every file is stat'ed
// (mtime, size); without, only those lacking S= are. Files that vanish while
// scanning are skipped; a base name seen in both new/ and cur/ (moved during
// the scan) is reported once, from cur/. Missing new/ or cur/ is an error.
Result<std::vector<MessageInfo>> scan_messages(const std::string& maildir, bool stat_files = true);

struct ScanOptions {
  bool stat_files = true;  // as scan_messages
  // Moves new/ to cur/ while reading new/, as move_new_to_cur (files another
  // reader moved first are skipped, and listed from cur/ like the moved ones).
  bool move_new = false;
  // -1: look for the "shared" link (a subscribed sharable folder, whose
  // message links are followed); 0 or 1: the caller knows.
  int follow_links = -1;
  // The mtimes of new/ and cur/ and the clock, taken by the caller just
  // before (as FolderScan's): used instead of an fstat of each directory.
  const struct timespec* known_times = nullptr;  // {new_mtime, cur_mtime, checked_at}
};

struct FolderScan {
  std::vector<MessageInfo> messages;  // as scan_messages
  NewToCur moved;                     // with move_new
  // The mtimes of new/ and cur/, taken on the open directory just before it
  // was read (with move_new, new/'s is from before the moves), and the
  // CLOCK_REALTIME_COARSE time read before both: a later change to a
  // directory gives it an mtime at or after checked_at.
  struct timespec new_mtime {}, cur_mtime {}, checked_at {};
};

// scan_messages, each directory opened once and read with getdents64, with
// the options above.
Result<FolderScan> scan_folder(const std::string& maildir, const ScanOptions& options);

// ---------------------------------------------------------------------------
// Small helpers shared with maildir_quota.cpp
// ---------------------------------------------------------------------------

// The host name as it appears in maildir names: '/' -> "\057", ':' -> "\072"
// (as qmail and Courier escape them), "localhost" if none.
std::string maildir_host_name();
std::string escape_host_name(std::string_view host);

// fsync of a directory, for durable links and renames (lib::fsync_directory).
inline Result<void> fsync_dir(const std::string& dir) { return fsync_directory(dir); }

}  // namespace lib::maildir
