// imapd/modseq.hpp: the per-folder mod-sequence store of CONDSTORE and
// QRESYNC (RFC 7162), imapd-modseq beside courierimapuiddb in each Maildir++
// folder. Courier-IMAP has no such file; Courier and other programs that
// rename Maildir files or rewrite courierimapkeywords are still seen: a
// message's mod-sequence rises whenever the flags a session finds on disk
// differ from the ones recorded here (a "signature" of its Maildir letters and
// keywords), whoever changed them.
//
// File format (text, one record per line, each ending in a newline):
//   line 1:  "imapd-modseq 3 <uidvalidity> <highestmodseq> <expungefloor>
//             <reserved> <bootid>"  (one line)
//   then groups of records, each ended by its commit line:
//            "<uid> <modseq> <signature>"   a message present in the folder,
//                                           signature 16 hex digits
//            "X <uid> <modseq>"             a UID expunged at that modseq
//            "R <reserved> <bootid>"        a new reservation (Durability)
//            "C <highestmodseq>"            commits the records before it
// The first group is the whole store as of the last rewrite (tmp/ + rename
// by lib/atomic_file, fsynced): its X records come first, after a line
// "S <count> <bytes> <highest X modseq>" so that readers without them skip
// the <bytes> bytes, then the messages. Each change after it (one
// apply_modseq_observations under ModseqLock) appends a group holding only
// what changed: new or changed messages, new expunges, a reservation. A
// group is one write(2) on an O_APPEND descriptor. Readers apply the groups
// in order, a later record of a UID replacing an earlier one (an "X" removes
// the message, a message record removes an "X"); records after the last
// commit line (a reader racing the writer, a writer killed mid-write) are
// not applied. The writer rewrites the file instead of appending when it is
// new, recovered or of another UIDVALIDITY, of version 1 or 2 (upgraded), has
// anything after its last commit line or a bad line, or when the groups
// appended since the first pass half the size of its message records plus
// modseq_compaction_slack (or it remembers more than 5/4 of
// max_expunged_remembered expunges): compaction, every few hundred changes.
// Versions 1 ("imapd-modseq 1 <uidvalidity> <highest> <floor>", always
// fsynced: read as reserved = highest) and 2 (the version 3 header) had no
// commit lines: the whole file is one group.
//
// Expunged UIDs are remembered (for QRESYNC's VANISHED (EARLIER)) up to
// max_expunged_remembered; the oldest are then forgotten (at compaction) and
// expungefloor rises to the highest modseq forgotten: a client that last
// synchronized before the floor is told every unknown UID in its range
// vanished (RFC 7162 3.2.5.1 allows that), never fewer than were really
// expunged. Only QRESYNC reads them (load_modseq_db with_expunges): the
// other readers skip them (parse_modseq_db with_expunges false).
//
// Never reused: a new, unreadable or corrupt file (or one of an older
// UIDVALIDITY) starts over at max(old highest + 1, the clock in microseconds),
// and each change adds 1, so a modseq a client holds is never handed out
// again for other state (RFC 7162 3.1.1), even after the file is lost.
//
// Durability (README.md, "What survives a power loss"): appends are not
// fsynced, except when a change needs a modseq above the reservation
// (<reserved> of the header or of the last committed "R"): its group then
// reserves the next modseq_reserve_step values with an "R" record naming the
// boot it was made in (<bootid>, the kernel's random boot_id), is written and
// fdatasync'd, and only then gets its commit line (a second write), so no
// session tells a value above the old reservation before the new one is on
// disk. A rewrite is always fsynced, file and directory (later appends rely
// on that inode being the one a crash leaves), and reserves unless the
// reservation it carries over is of this boot and still covers highest.
// Unfsynced writes are lost only with the running kernel (a power loss or a
// crash of the machine; a killed process loses nothing), so a file whose last reservation
// was made in another boot may be older than what clients saw: load_modseq_db
// then starts above the highest reservation or modseq in the file
// (committed or not), gives every message that new modseq (a client's
// CHANGEDSINCE fetches all flags once, whatever flags the crash kept or lost
// on disk) and raises expungefloor to it (QRESYNC's VANISHED (EARLIER)
// reports every UID not present); the next change rewrites it. After a clean
// reboot that costs CONDSTORE clients one full flag resync per folder.
//
// Locking: writers hold an flock(2) on the folder's tmp/ directory
// (ModseqLock, exclusive), distinct from FolderLock (uiddb, keywords) so that
// a STORE UNCHANGEDSINCE can hold it across its test, its flag changes and
// their recording (atomic against other imapd sessions; plain STOREs hold it
// shared while they rename, and record afterwards). A reader that finds its
// observations recorded already needs no lock (recorded_modseqs): it sees
// whole committed groups only; when it finds something to record, the writer
// it hands over to (sync_modseqs, ModseqReading) reads only the bytes
// appended since, if the file is still the same inode. Lock order:
// ModseqLock before FolderLock, never the reverse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/types.h>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/folder_lock.hpp"
#include "imapd/uiddb.hpp"
#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace imapd {

inline constexpr std::string_view modseq_file_name = "imapd-modseq";
inline constexpr std::size_t max_modseq_bytes = 256u * 1024 * 1024;
inline constexpr std::size_t max_expunged_remembered = 100000;
// Modseqs reserved by one fsynced write (see Durability above).
inline constexpr std::uint64_t modseq_reserve_step = 1024;
// The bytes appended after the first group, past half the size of its
// message records, that make the next change rewrite the file.
inline constexpr std::size_t modseq_compaction_slack = 16 * 1024;

struct ModseqEntry {
  std::uint64_t modseq = 0;
  std::uint64_t signature = 0;
};

struct ModseqDb {
  std::uint32_t uidvalidity = 0;
  std::uint64_t highest = 0;        // the highest modseq ever given in this folder
  std::uint64_t expunge_floor = 0;  // expunges at or below it are forgotten
  std::uint64_t reserved = 0;       // fsynced: no modseq above it was ever told
  std::string boot_id = "-";        // the boot of the last fsynced write ("-": always fsynced)
  std::map<std::uint32_t, ModseqEntry> live;       // uid -> state
  std::map<std::uint32_t, std::uint64_t> expunged;  // uid -> modseq of its expunge
  // How parse_modseq_db found the file (not part of the store):
  bool expunges_loaded = true;      // false: parsed without them; `expunged` holds only those added since
  std::size_t expunge_records = 0;  // the X records applied (when not loaded, an upper bound of `expunged`)
  std::size_t committed_bytes = 0;  // the file's bytes up to and with its last commit line
  std::size_t base_bytes = 0;       // ... and with its first commit line (the last rewrite)
  bool appendable = false;          // version 3, every line good, nothing after the last commit line
  std::uint64_t uncommitted_max = 0;  // the highest modseq or reservation after the last commit line
};

// The signature of a message's flags: FNV-1a 64 of the Maildir letters and
// the keywords (sorted, as std::set keeps them).
std::uint64_t flag_signature(std::string_view maildir_flags, const std::set<std::string>& keywords);

// Parses the file text (any version). A bad header is a permanent error
// naming `origin` (the caller starts over); a bad record line is skipped, and
// the file's highest modseq is raised over every committed modseq in it.
// Without with_expunges the X records only remove messages and are counted.
lib::Result<ModseqDb> parse_modseq_db(std::string_view text, const std::string& origin, bool with_expunges = true);
// The whole store as a version 3 file (one group, committed).
std::string format_modseq_db(const ModseqDb& db);
// The records of `db` changed after modseq `since` (a group without its
// commit line).
std::string format_modseq_changes(const ModseqDb& db, std::uint64_t since);
// Applies what was appended to a file after `db` was parsed from it (the
// bytes from db.committed_bytes on). False (db untouched) unless db.appendable.
bool continue_modseq_db(ModseqDb& db, std::string_view appended);

// A fresh start after `old_highest` (0: none known): max(old + 1, now_us).
std::uint64_t modseq_restart_value(std::uint64_t old_highest, std::uint64_t now_us);

// What a session found on disk for one message.
struct ModseqObservation {
  std::uint32_t uid = 0;
  std::uint64_t signature = 0;
};

// Brings `db` up to date with what a session saw (pure; the file work is in
// sync_modseqs). Each observed UID whose signature differs from the record (or
// that has none) gets a new modseq. With `full`, the observations (plus
// `also_present`) are the whole folder: recorded UIDs not among them are
// expunged now. `expunged_now` are expunged in any case. Returns the modseq
// of each observation, in order. `restart` is the value a new store starts
// at (modseq_restart_value), used when db.highest is 0.
std::vector<std::uint64_t> apply_modseq_observations(ModseqDb& db, const std::vector<ModseqObservation>& seen,
                                                     bool full, const std::set<std::uint32_t>& also_present,
                                                     const std::vector<std::uint32_t>& expunged_now,
                                                     std::uint64_t restart);

// The ModseqLock of a folder (see above). With wait false it is only taken
// when free: ok() is then false if another process holds it (EWOULDBLOCK).
// Shared: held by plain STOREs while they rename (Mailbox::begin_batch), so
// that none lands inside a conditional STORE's exclusive test-and-change;
// the store file itself is only written under the exclusive lock.
class ModseqLock {
 public:
  explicit ModseqLock(const std::string& folder_dir, bool wait = true, bool shared = false);
  bool ok() const { return fd_.valid(); }

 private:
  lib::UniqueFd fd_;  // closing releases the lock
};

// Reads folder_dir/imapd-modseq. Missing, unreadable, corrupt or of another
// UIDVALIDITY: a new store (logged with the file name), whose highest is
// above anything the old one could have given (then *fresh is set, when
// given: the caller writes it even if nothing else changes, so the restart
// value sticks). A file last fsynced in another boot than `boot_id` is
// recovered as "Durability" above says (also *fresh). with_expunges: also
// read the expunges (QRESYNC); otherwise `expunged` is left empty.
ModseqDb load_modseq_db(const std::string& folder_dir, std::uint32_t uidvalidity, bool* fresh = nullptr,
                        const std::string& boot_id = current_boot_id(), bool with_expunges = true);

// What load_modseq_db does to a store that may have lost unfsynced writes:
// highest = max(highest, reserved, uncommitted_max) + 1, given to every live
// message and made the expunge floor. Pure.
void recover_modseq_db(ModseqDb& db);

// Rewrites the whole store (through folder_dir/tmp and rename, fsynced with
// its directory), reserving modseq_reserve_step values past db.highest in
// `boot_id` unless db holds a reservation of that boot covering db.highest.
// db must hold its expunges. Call under ModseqLock.
lib::Result<void> save_modseq_db(const std::string& folder_dir, ModseqDb& db,
                                 const std::string& boot_id = current_boot_id());

// Appends what changed in `db` after modseq `since` to the store open on fd
// (O_APPEND; `path` names it in errors), reserving first (fsynced) when
// db.highest is above db.reserved or `boot_id` is empty. Call under
// ModseqLock, with db read from that descriptor.
lib::Result<void> append_modseq_changes(int fd, const std::string& path, ModseqDb& db, std::uint64_t since,
                                        const std::string& boot_id = current_boot_id());

// load + apply + append or rewrite (when changed). The caller holds
// ModseqLock. A failed write is logged and the modseqs still returned.
struct ModseqSyncResult {
  std::vector<std::uint64_t> modseqs;  // per observation
  std::uint64_t highest = 0;
  std::uint64_t expunge_floor = 0;
};
// A store as recorded_modseqs read it (before applying anything), for
// sync_modseqs to go on from: when the file is still that inode, only what
// was appended since is read. The descriptor keeps the inode allocated, so
// a file that replaced it cannot have been given its number.
struct ModseqReading {
  ModseqDb db;
  lib::UniqueFd fd;
  dev_t dev = 0;
  ino_t ino = 0;
  bool valid = false;
};
ModseqSyncResult sync_modseqs(const std::string& folder_dir, std::uint32_t uidvalidity,
                              const std::vector<ModseqObservation>& seen, bool full,
                              const std::set<std::uint32_t>& also_present,
                              const std::vector<std::uint32_t>& expunged_now, ModseqReading* reading = nullptr);

// sync_modseqs without the lock, for the common case of a session that only
// looks: the store is read as one version (whole committed groups) and,
// when what the session saw is recorded there already
// (nothing to write), that is the result. nullopt: the store must change (or
// is new); the caller takes ModseqLock and calls sync_modseqs (with
// `reading`, filled here when it can go on from what was read).
std::optional<ModseqSyncResult> recorded_modseqs(const std::string& folder_dir, std::uint32_t uidvalidity,
                                                 const std::vector<ModseqObservation>& seen, bool full,
                                                 const std::set<std::uint32_t>& also_present,
                                                 const std::vector<std::uint32_t>& expunged_now,
                                                 ModseqReading* reading = nullptr);

// HIGHESTMODSEQ of a folder that need not be selected (STATUS): its
// messages (UIDs from courierimapuiddb, keywords from courierimapkeywords)
// are observed and recorded first, so changes by any program count.
lib::Result<std::uint64_t> folder_highest_modseq(const std::string& folder_dir);

}  // namespace imapd
