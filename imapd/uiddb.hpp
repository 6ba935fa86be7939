// imapd/uiddb.hpp: Courier's courierimapuiddb file, one per Maildir++ folder,
// which keeps a mailbox's UIDVALIDITY and each message's UID across sessions
// (RFC 3501 2.3.1.1), so a mailbox moved from Courier-IMAP keeps them.
//   line 1:  "1 <uidvalidity> <nextuid>"
//   then:    "<uid> <basename>" per message, basename = file name before ':'.
// Courier (imap/imapscanclient.c) also writes version 2, where the messages are
// listed as "<basename> <uid>" runs: a line "basename" alone means the uid after
// the previous one. Both versions are read; version 1 is written.
// The file is replaced through tmp/ + rename, so a reader sees the old or the
// new file, never a half-written one.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ctime>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace imapd {

inline constexpr std::string_view uiddb_file_name = "courierimapuiddb";
// A uiddb larger than this is corrupt or hostile (a million messages with long
// names is ~100 MB): it is ignored with an error and rebuilt (new UIDVALIDITY).
inline constexpr std::size_t max_uiddb_bytes = 256u * 1024 * 1024;

struct UidDb {
  std::uint32_t uidvalidity = 0;
  std::uint32_t next_uid = 1;
  std::unordered_map<std::string, std::uint32_t> uids;  // basename -> uid
};

// Parses the text of a uiddb. Returns a permanent error naming `origin` and the
// line when the header is not understood; bad message lines are skipped (a
// message that loses its entry just gets a new UID). UIDs at or above next_uid
// raise next_uid, so a UID is never handed out twice.
lib::Result<UidDb> parse_uiddb(std::string_view text, const std::string& origin);

// Reads folder_dir/courierimapuiddb. A missing file yields an empty UidDb with
// uidvalidity 0 (the caller picks one). Other failures are errors.
lib::Result<UidDb> read_uiddb(const std::string& folder_dir);

// read_uiddb, keeping the file open (no file: nothing open), so that
// same_uiddb can tell later, with one stat(2), whether the name still
// refers to the version read: the file is only ever replaced whole (by
// rename, here and in Courier), and an inode held open is not reused.
struct UidDbSnapshot {
  UidDb db;
  lib::UniqueFd file;
  dev_t dev = 0;
  ino_t ino = 0;
};
lib::Result<UidDbSnapshot> read_uiddb_snapshot(const std::string& folder_dir);
bool same_uiddb(const std::string& folder_dir, const UidDbSnapshot& snapshot);

// The file text for db, messages in UID order (version 1).
std::string format_uiddb(const UidDb& db);

// The per-account UIDVALIDITY counter, at the Maildir root: a new folder (or
// one whose uiddb is gone) gets max(now, last + 1), under an flock of the
// counter file, so DELETE + CREATE of a name, even within one second, never
// gives a UIDVALIDITY that name had before (RFC 3501 2.3.1.1).
inline constexpr std::string_view uidvalidity_file_name = "imapd-uidvalidity";
lib::Result<std::uint32_t> next_uidvalidity(const std::string& root, std::time_t now = std::time(nullptr));

// \Recent (RFC 3501 2.3.2): exactly one session sees a message as recent.
// folder_dir/imapd-recent holds the highest UID some session has claimed;
// claim_recent, under the folder lock, returns the previous value and (with
// claim) raises it to next_uid - 1, so the UIDs between are this session's
// recent messages (new deliveries, APPEND and COPY alike). nullopt: no file
// yet (a folder from Courier: the messages it moves from new/ are recent).
inline constexpr std::string_view recent_file_name = "imapd-recent";
lib::Result<std::optional<std::uint32_t>> claim_recent(const std::string& folder_dir, std::uint32_t next_uid,
                                                       bool claim);

// The space-separated fields of one line of a state file (courierimapuiddb,
// imapd-modseq), at most max_fields (a longer line then has one too many
// fields as the caller counts: it reads max_fields + 1 to detect that).
std::vector<std::string_view> state_file_fields(std::string_view line, std::size_t max_fields);

// Writes folder_dir/courierimapuiddb through folder_dir/tmp and rename,
// fsynced unless !durable (the caller holds a durable UID reservation).
lib::Result<void> write_uiddb(const std::string& folder_dir, const UidDb& db, bool durable = true);

// The running kernel's boot (/proc/sys/kernel/random/boot_id, read once);
// empty when unreadable. A file written without fsync can have lost writes
// after a crash only if the boot it was written in is not the current one.
const std::string& current_boot_id();

// UID reservation (README.md, "What survives a power loss"): courierimapuiddb
// is written without fsync; imapd-uidlimit, fsynced, says that no UID at or
// above <limit> was handed out under <uidvalidity>, and in which boot
// courierimapuiddb was last written unfsynced:
//   "<uidvalidity> <limit> <bootid>\n"
// A session that numbers new messages raises the limit by uid_reserve_step
// (one fsync) before handing out a UID at or above it; one that finds the
// limit written in another boot (its unfsynced uiddb writes may be lost)
// starts numbering at the limit. Gaps in UIDs are allowed (RFC 3501 2.3.1.1);
// reuse is not. A message numbered after the last fsync may come back with a
// new, higher UID after a power loss (its file is durable; its old UID is
// never given to another message).
inline constexpr std::string_view uid_limit_file_name = "imapd-uidlimit";
inline constexpr std::uint32_t uid_reserve_step = 64;
struct UidLimit {
  std::uint32_t uidvalidity = 0;
  std::uint32_t limit = 0;
  std::string boot_id;
};
// nullopt: no file, or not one this code wrote (then courierimapuiddb was
// written with fsync, by Courier or an older imapd, and is trusted).
std::optional<UidLimit> read_uid_limit(const std::string& folder_dir);
lib::Result<void> write_uid_limit(const std::string& folder_dir, const UidLimit& limit);

}  // namespace imapd
