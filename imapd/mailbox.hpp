// imapd/mailbox.hpp: the state of the selected Maildir++ folder (RFC 3501 2.3:
// UIDs, sequence numbers, flags, \Recent; 7.3.1 EXISTS, 7.4.1 EXPUNGE).
//
// Every per-message fact lives in one MessageState, in sequence order, so later
// extensions (CONDSTORE mod-sequences, SORT/THREAD caches) add a field here.
// UIDs come from Courier's courierimapuiddb (imapd/uiddb.hpp) and keywords from
// courierimapkeywords (imapd/keywords.hpp), so a folder used by Courier-IMAP
// keeps its UIDVALIDITY, UIDs and keywords.
//
// Concurrency: other sessions and deliveries change the folder underneath.
// refresh() rescans new/ and cur/ and records what changed; the session asks
// take_updates() for the untagged responses when it may send them (EXPUNGE is
// withheld during FETCH, STORE and SEARCH, RFC 3501 7.4.1). UIDs are assigned
// under an flock(2) on the folder directory, so two sessions never give one
// message two UIDs or one UID to two messages.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/folders.hpp"
#include "imapd/keywords.hpp"
#include "imapd/mailbox_cache.hpp"
#include "imapd/modseq.hpp"
#include "lib/maildir.hpp"
#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace imapd {

// A set of keywords (custom flags), interned: equal sets share one copy,
// counted by reference, so a message holds a 4-byte number and the many
// messages without keywords hold 0. Process-wide table; imapd is
// single-threaded.
class KeywordSet {
 public:
  KeywordSet() = default;
  KeywordSet(const std::set<std::string>& words);  // NOLINT: converts as the set did
  KeywordSet(const KeywordSet& other) noexcept;
  KeywordSet(KeywordSet&& other) noexcept : id_(other.id_) { other.id_ = 0; }
  KeywordSet& operator=(const KeywordSet& other) noexcept;
  KeywordSet& operator=(KeywordSet&& other) noexcept;
  ~KeywordSet();

  const std::set<std::string>& get() const;
  bool empty() const { return id_ == 0; }
  // Equal sets are one entry, so equality is identity.
  friend bool operator==(const KeywordSet& a, const KeywordSet& b) { return a.id_ == b.id_; }
  // Distinct non-empty sets alive in the process (for tests).
  static std::size_t interned_count();

 private:
  void release() noexcept;
  std::uint32_t id_ = 0;  // 0: no keywords; else 1 + a slot of message_state.cpp's table
};

// std::optional<std::uint64_t> in 8 bytes: the one value a size cannot
// take (UINT64_MAX) means "not known". Same interface as the optional
// where MessageState's users need it.
class OptionalSize {
 public:
  OptionalSize() = default;
  OptionalSize(std::uint64_t v) : v_(v) {}  // NOLINT: assigns as the optional did
  OptionalSize(std::nullopt_t) {}           // NOLINT
  OptionalSize(const std::optional<std::uint64_t>& v) : v_(v ? *v : none) {}  // NOLINT
  explicit operator bool() const { return v_ != none; }
  bool has_value() const { return v_ != none; }
  std::uint64_t operator*() const { return v_; }
  std::uint64_t value_or(std::uint64_t other) const { return v_ != none ? v_ : other; }

 private:
  static constexpr std::uint64_t none = ~std::uint64_t{0};
  std::uint64_t v_ = none;
};

// A file's mtime (IMAP INTERNALDATE) in 4 bytes: seconds since 1970 as an
// unsigned 32-bit number, so 1970 to 2106; a time before is kept as
// 1970-01-01 00:00:01 and one after as the last second of 2106. 0: not
// known yet (as before). Reads and assigns as the std::time_t it replaces.
class MtimeSeconds {
 public:
  MtimeSeconds() = default;
  MtimeSeconds(std::time_t t)  // NOLINT: assigns as the time_t did
      : v_(t == 0 ? 0 : t < 0 ? 1 : t > std::time_t{0xffffffff} ? 0xffffffffu : static_cast<std::uint32_t>(t)) {}
  operator std::time_t() const { return v_; }  // NOLINT: reads as the time_t did

 private:
  std::uint32_t v_ = 0;
};

// One message of the selected folder. Kept small (a 1,000-message folder's
// table is most of an idle session's memory): the file name is one pooled
// block (its length in front), the base name is its prefix before ':', the
// Maildir flag letters are bits, keywords an interned KeywordSet, the
// booleans bit-fields: 56 bytes and the name's. The views base() and
// file_name() give stay valid until the name changes (set_file_name).
class MessageState {
 public:
  // Stable Maildir base name (the file name before ':').
  std::string_view base() const { return name_.base(); }
  // Current name in cur/ or new/.
  std::string_view file_name() const { return name_.name(); }
  void set_file_name(std::string_view name) { name_.set(name); }
  // Normalized Maildir letters (lib::maildir::normalize_flags: ASCII letters
  // in ASCII order), as a string, and one letter's presence.
  std::string maildir_flags() const;
  bool has_flag(char letter) const;
  void set_maildir_flags(std::string_view letters);
  // Custom flags (courierimapkeywords).
  const std::set<std::string>& keywords() const { return keywords_.get(); }
  const KeywordSet& keyword_set() const { return keywords_; }
  void set_keywords(KeywordSet words) { keywords_ = std::move(words); }

  // Bytes mapped for all messages' names in the process (for tests).
  static std::size_t name_pool_bytes();

 private:
  // A file name in one block: [u16 name length][bytes] (the base is the part before ':'),
  // from a pool of mappings (message_state.cpp) that keeps names together.
  class Name {
   public:
    Name() = default;
    Name(const Name& other) { set(other.name()); }
    Name(Name&& other) noexcept : h_(other.h_) { other.h_ = 0; }
    Name& operator=(const Name& other);
    Name& operator=(Name&& other) noexcept;
    ~Name();
    std::string_view name() const;
    std::string_view base() const;
    void set(std::string_view name);
    // Bytes the process has mapped for names (message_state.cpp's pool).
    static std::size_t pool_bytes();

   private:
    static void free(std::uint32_t h) noexcept;
    std::uint32_t h_ = 0;  // a handle of message_state.cpp's pool; 0: no name
  };
 public:
  // The imapd-cache entry (imapd/mailbox_cache.hpp), once checked against
  // the file this session; owned by the Mailbox's MailboxCache.
  const CacheEntry* cache = nullptr;
  std::uint64_t size_bytes = 0;    // RFC822.SIZE basis (file size)
  OptionalSize crlf_size;          // RFC822.SIZE: ",W=" or counted on read
  std::uint64_t modseq = 0;        // CONDSTORE (RFC 7162), from imapd/modseq.hpp

 private:
  Name name_;

 public:
  std::uint32_t uid = 0;

 private:
  KeywordSet keywords_;

 public:
  MtimeSeconds internal_date;  // file mtime; 0 until stat'ed

 private:
  // Bit (c - 'A') for A-Z, 26 + (c - 'a') for a-z; shares 8 bytes with
  // the bit-fields below.
  std::uint64_t flag_bits_ : 52 = 0;

 public:
  lib::maildir::Location location : 2 = lib::maildir::Location::cur_dir;
  bool recent : 1 = false;        // \Recent for this session
  bool vanished : 1 = false;      // gone on disk, EXPUNGE not yet sent
  bool size_known : 1 = false;
  bool size_in_name : 1 = false;  // size_bytes is the name's ",S=" (maildir: fixed for the name)
};

// IMAP system flag <-> Maildir letter (\Seen S, \Answered R, \Flagged F,
// \Deleted T, \Draft D). 0 for anything else.
char maildir_letter(std::string_view imap_flag);

// Result of assigning UIDs to messages of a folder on disk.
struct UidAssignment {
  std::uint32_t uidvalidity = 0;
  std::uint32_t next_uid = 1;
  std::vector<std::uint32_t> uids;  // one per requested base, same order
};

// Under the folder lock: reads courierimapuiddb, gives every base in `bases`
// without a UID the next one (in the order given), drops entries of messages
// not in `present` (when given) whose UID is below `prune_below`, and writes
// the file back if it changed. `present` comes from a directory scan, which
// cannot see a message delivered and numbered by another session after the
// scan began: prune_below is a next UID read before the scan (Mailbox::scan
// passes the one its previous scan found), so such an entry is kept and the
// message keeps its UID. A missing or unreadable uiddb starts a new
// UIDVALIDITY (the current time).
lib::Result<UidAssignment> assign_uids(const std::string& folder_dir,
                                       const std::vector<std::string>& bases,
                                       const std::vector<std::string>* present,
                                       std::uint32_t prune_below = 0xffffffffu);

struct MailboxStatus {
  std::uint32_t messages = 0, recent = 0, unseen = 0, uidnext = 1, uidvalidity = 0;
  std::uint64_t size = 0;  // STATUS=SIZE (RFC 8438): sum of RFC822.SIZE, when asked for
  std::uint32_t deleted = 0;           // RFC 9208 DELETED: messages flagged \Deleted
  std::uint64_t deleted_size = 0;      // their RFC822.SIZE sum, when sizes were asked for
};
// STATUS of a folder that need not be selected (RFC 3501 6.3.10). With
// with_size, `size` is the sum of the messages' RFC822.SIZE: ",W=" from the
// name, else counted in the file (a file that vanished counts 0).
lib::Result<MailboxStatus> folder_status(const std::string& folder_dir, bool with_size = false);

// A message file's bytes from its descriptor (at most `limit`), refusing
// sizes that could not be a message (over 2 GiB). Errors name `path`.
lib::Result<std::string> read_message_file(int fd, const std::string& path,
                                           std::optional<std::size_t> limit = std::nullopt);

// RFC822.SIZE of a message file: its size once each bare LF is CRLF,
// counted in one pass of fixed-size reads.
lib::Result<std::uint64_t> file_crlf_size(const std::string& path);

class Mailbox {
 public:
  // Opens the folder directory `dir`. With read_only (EXAMINE) nothing on disk
  // changes except courierimapuiddb; otherwise new/ is moved to cur/ and those
  // messages are \Recent here. Errors: no such folder (permanent), I/O
  // (temporary), each naming the path.
  static lib::Result<std::unique_ptr<Mailbox>> open(const std::string& dir, const FolderName& name,
                                                    bool read_only);

  const std::string& dir() const { return dir_; }
  const FolderName& name() const { return name_; }
  bool read_only() const { return read_only_; }
  std::uint32_t uidvalidity() const { return uidvalidity_; }
  std::uint32_t uidnext() const { return next_uid_; }

  // Messages in sequence order; index = sequence number - 1. Includes vanished
  // ones until their EXPUNGE is sent.
  std::vector<MessageState>& messages() { return messages_; }
  const std::vector<MessageState>& messages() const { return messages_; }
  std::size_t count() const { return messages_.size(); }
  std::uint32_t recent_count() const;
  // Sequence number (1-based) of the first message without \Seen; 0 if none.
  std::uint32_t first_unseen() const;
  // Sequence number of a UID, 0 if absent.
  std::uint32_t seq_of_uid(std::uint32_t uid) const;

  // The keywords in use plus those ever defined here (for FLAGS).
  const std::set<std::string>& known_keywords() const { return known_keywords_; }

  // The "* FLAGS" and "* OK [PERMANENTFLAGS" lines for the keywords known
  // now; remembers them as told. take_flags_announcement() gives them only
  // when a keyword appeared since they were last told, so a client always
  // sees a keyword in FLAGS before a FETCH uses it.
  std::string flags_announcement();
  std::string take_flags_announcement();

  // "(\Seen \Recent $Label1)"
  std::string flag_list(const MessageState& m) const;

  // Full path of a message's file as last known.
  std::string path_of(const MessageState& m) const;

  // Opens a message for reading. If its file moved (another session changed
  // its flags), follows it by base name. nullopt: the message is gone (it is
  // then marked vanished). Errors: I/O other than ENOENT.
  lib::Result<std::optional<lib::UniqueFd>> open_message(std::size_t index);

  // Fills size and internal date from stat(2) where unknown.
  lib::Result<void> stat_message(std::size_t index);
  // stat(2) of a message's file (following it by base name when it moved),
  // without opening it. false: the message is gone (marked vanished).
  lib::Result<bool> stat_file(std::size_t index, struct stat& st);

  // --- The per-mailbox cache (imapd/mailbox_cache.hpp; mailbox_cache.cpp) --
  // The cached facts of a message (ENVELOPE, BODY, BODYSTRUCTURE, CRLF size,
  // header block), checked once per session against the file's size and
  // mtime (stat, no open), made from the file on a miss; an entry for a
  // name with ",S=" equal to the entry's size is trusted without a stat
  // (a maildir file's content never changes under its name). Sets the
  // message's crlf_size, and internal_date when it stat'ed. nullptr: gone or unreadable
  // (logged); the caller reads the file itself.
  const CacheEntry* cached(std::size_t index);
  // The same facts for a message whose file another session removed (marked
  // vanished, EXPUNGE not yet sent): the entry checked this session, else
  // the one stored under its base name if it agrees with what the session
  // knows (the size from ",S=", the mtime as INTERNALDATE). A Maildir message
  // is never rewritten under its base name (delivery renames from tmp/,
  // flags rename), so that entry describes the message that was expunged.
  // nullptr: none. Reads no message file.
  const CacheEntry* cached_gone(std::size_t index);
  // The sort and thread keys of cached(), without the ENVELOPE/BODYSTRUCTURE
  // part (imapd/mailbox_cache.cpp). nullptr as for cached().
  const CacheKeys* cached_keys(std::size_t index);
  // SORT by string keys from the cache's rank section, read alone (no key
  // section, no body section): for the messages at `indexes`, their ranks
  // by each of `keys`, column after column (keys.size() x indexes.size()),
  // each below the returned bound (a record count). nullopt when a message
  // has no name with ",S=" or no record whose id its name and size give,
  // or the file has no valid rank section: the caller sorts from the keys.
  std::optional<std::uint32_t> cached_ranks(const std::vector<std::size_t>& indexes,
                                            const std::vector<CacheRankKey>& keys, std::vector<std::uint32_t>& out);
  // Writes imapd-cache when it gained many entries, or with closing when it
  // changed at all (the destructor closes). Failures are logged.
  void flush_cache(bool closing = false);
  static constexpr std::size_t cache_flush_batch = 500;
  ~Mailbox();

  // Rescans the folder if new/ or cur/ changed since the last scan (or when
  // force). Notes new messages, flag changes by others and vanished files.
  // A changed UIDVALIDITY (uiddb deleted) is a permanent error: the session
  // must end (RFC 3501 2.3.1.1 forbids renumbering under a client).
  lib::Result<void> refresh(bool force = false);
  // A number that grows with every scan of any folder in this process;
  // scanned_since(n): this folder was scanned after scan_serial() gave n (a
  // command that scanned needs no second rescan at its end).
  static std::uint64_t scan_serial();
  bool scanned_since(std::uint64_t serial) const { return last_scan_serial_ > serial; }

  // The untagged responses due: with allow_expunge, EXPUNGE for vanished
  // messages (which are then dropped); "n EXISTS" and "n RECENT" when the count
  // changed; "n FETCH (FLAGS ...)" for others' flag changes (with UID when
  // with_uid). A "* FLAGS" announcement of new keywords comes first.
  std::string take_updates(bool allow_expunge, bool with_uid);

  // Changes a message's flags by a delta applied to what is on disk at the
  // time, never by writing back this session's cached set, so a change
  // another session made meanwhile is kept (RFC 3501 6.4.6 semantics per
  // STORE mode). System flags: lib::maildir::change_flags renames the file
  // from its current name (retrying when it moved). Keywords: queued and
  // applied by update_keywords under the folder lock (at once, or at
  // end_batch). Returns false if the message vanished. Read-only mailboxes
  // refuse (the session checks first).
  struct FlagChange {
    enum class Mode { replace, add, remove };
    Mode mode = Mode::add;
    std::string letters;             // system flags as Maildir letters (DFRST)
    std::set<std::string> keywords;  // custom keywords
  };
  lib::Result<bool> change_flags(std::size_t index, const FlagChange& change);

  // Saves pending keyword changes (batched by change_flags callers via
  // begin_batch/end_batch so a STORE 1:1000 writes :list once).
  // A batch also holds the folder's ModseqLock (imapd/modseq.hpp) from
  // begin_batch to end_batch. Conditional (STORE UNCHANGEDSINCE): held
  // exclusive, so the test (after reload_modseqs) and the changes with their
  // new mod-sequences are one step for other sessions. Otherwise shared:
  // plain STOREs rename side by side, none inside a conditional one, and
  // each records its mod-sequences after letting go (exclusively, briefly).
  void begin_batch(bool conditional = false);
  lib::Result<void> end_batch();

  // --- CONDSTORE / QRESYNC (RFC 7162; imapd/mailbox_modseq.cpp) ----------
  std::uint64_t highest_modseq() const { return highest_modseq_; }
  // Untagged FETCH for others' flag changes carry MODSEQ (condstore);
  // expunges are told as VANISHED (qresync).
  // Turning it on records first what a rescan left unrecorded (see
  // sync_modseqs), so the values this session tells are in the store.
  void set_condstore(bool on);
  // For a session that uses the mod-sequences without telling them (RFC
  // 5267 CONTEXT UPDATE compares highest_modseq()): every rescan records.
  void keep_modseqs_current();
  void set_qresync(bool on) { qresync_ = on; }
  // IMAP4rev2 (RFC 9051, after ENABLE IMAP4rev2): no \Recent in flag lists
  // and no RECENT responses.
  void set_rev2(bool on) { rev2_ = on; }
  bool qresync() const { return qresync_; }
  // Inside a conditional batch: rescans the folder (recording the changes
  // of plain STOREs done renaming but not yet recorded, and of other
  // programs) and rereads the store, so each message's modseq is what every
  // session has made of it (for UNCHANGEDSINCE).
  void reload_modseqs();
  // UIDs from `candidates` (ascending) expunged after `modseq`: those the
  // store remembers, and when `modseq` is below what it remembers, every
  // candidate not present (RFC 7162 3.2.5.1 allows reporting UIDs that
  // never existed). Reads the store's expunges (only QRESYNC needs them:
  // sessions do not keep them).
  std::vector<std::uint32_t> vanished_since(std::uint64_t modseq,
                                            const std::vector<std::uint32_t>& candidates) const;

  // Removes the messages for which `which` is true (files unlinked, or moved to
  // `trash_dir` when not empty) and returns the untagged EXPUNGE lines, sent in
  // descending sequence order so no renumbering is needed. Also drops vanished
  // messages (their EXPUNGE is included).
  lib::Result<std::string> expunge(const std::vector<bool>& which, const std::string& trash_dir,
                                   std::vector<std::uint32_t>* expunged_uids = nullptr);

 private:
  Mailbox() = default;
  lib::Result<void> save_keywords();
  // After ENOENT on a message's file: finds it by base name (its flags
  // changed) and updates m. false: it is gone.
  lib::Result<bool> follow_moved(MessageState& m);
  // times: {new/, cur/, keyword folder} mtimes and the clock before them,
  // when the caller (refresh) took them.
  lib::Result<void> scan(bool initial, const struct timespec* times = nullptr);
  // An mtime recorded by the last scan can be trusted to change with the
  // next change of its directory (see refresh).
  bool settled(const struct timespec& m) const;
  // Records the flags of messages_[indexes] (all present ones with full)
  // in the modseq store; also_present: UIDs on disk not in messages_.
  // With observer (a rescan by a session that tells no mod-sequences), a
  // change to record while another process holds the ModseqLock is left to
  // it or to the next session that needs the values (modseqs_stale_).
  void sync_modseqs(const std::vector<std::size_t>& indexes, bool full,
                    const std::set<std::uint32_t>& also_present = {},
                    const std::vector<std::uint32_t>& expunged_now = {}, bool observer = false);
  std::string vanished_line(std::vector<std::uint32_t> uids) const;

  std::string dir_;
  FolderName name_;
  bool read_only_ = false;
  std::uint32_t uidvalidity_ = 0;
  std::uint32_t next_uid_ = 1;
  std::vector<MessageState> messages_;
  std::set<std::string> known_keywords_;
  // What the client was last told.
  std::size_t told_exists_ = 0;
  std::uint32_t told_recent_ = 0;
  std::vector<std::uint32_t> flag_changed_uids_;
  std::set<std::string> told_keywords_;
  // Change detection for refresh().
  struct timespec new_mtime_ {}, cur_mtime_ {}, kw_mtime_ {};
  struct timespec last_scan_at_ {};  // CLOCK_REALTIME_COARSE before the last scan read new/ and cur/
  std::uint64_t last_scan_serial_ = 0;
  // The folder's file system keeps sub-second mtimes from the kernel's clock
  // (a local ext4, xfs, btrfs or tmpfs; not NFS, whose server clock may differ).
  bool fine_mtimes_ = false;
  bool follow_links_ = false;  // a subscribed sharable folder (its "shared" link)
  bool uids_to_prune_ = false;  // this session expunged: the next rescan prunes courierimapuiddb
  std::vector<KeywordChange> pending_keywords_;
  int batch_depth_ = 0;
  // CONDSTORE / QRESYNC state.
  std::uint64_t highest_modseq_ = 0;
  std::vector<std::size_t> pending_modseq_;  // changed in this batch
  std::optional<ModseqLock> modseq_lock_;
  bool batch_shared_ = false;  // modseq_lock_ is a plain STORE's shared one
  bool condstore_ = false, qresync_ = false;
  bool modseqs_stale_ = false;  // a rescan did not record what it saw
  bool keep_modseqs_ = false;   // keep_modseqs_current() was called
  bool rev2_ = false;
  std::unique_ptr<MailboxCache> cache_;  // made on first use
  bool kw_gone_ = false;                 // an expunged message had keywords: save_keywords looks
  bool cache_prune_ = false;             // messages went away: prune imapd-cache at close
};

}  // namespace imapd
