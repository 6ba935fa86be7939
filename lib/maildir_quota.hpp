// lib/maildir_quota.hpp: Maildir++ quotas through the `maildirsize` file, the
// way Courier's maildirquota.c keeps them, so Courier's tools and ours can share
// a maildir (COURIER-COMPAT.md section 12; Courier's README.maildirquota).
//
// maildirsize, at the maildir root (a folder's quota is its root's):
//   line 1      the quota definition: "<n>S" (bytes) and/or "<n>C" (messages),
//               comma-separated, e.g. "5000000S,1000C"
//   lines 2...  "<bytes> <count>", negative for removals; the sums are the usage.
//               Written as "%12lld %12lld\n" (26 bytes), like current Courier
//               code; README.maildirquota's "14 bytes" is out of date. Readers
//               accept any whitespace.
// Writers append one line with one write() on an O_APPEND descriptor, so
// concurrent writers never interleave. The file is rebuilt from the messages
// on disk (in tmp/, then renamed over it) when it is 5120 bytes or more, when
// its sums are negative or unreadable, or when it says "over quota" and has
// more than one usage line or is at least 15 minutes old.
// Trash (`.Trash`) and messages flagged T (deleted) do not count.
// Deleting maildirsize removes the quota.
// No locking, by design: races can let a few messages in over quota, and a
// later recalculation corrects the totals.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "lib/maildir.hpp"
#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace lib::maildir {

// A maildirsize this long (or longer) is rebuilt rather than summed.
inline constexpr std::size_t maildirsize_max_bytes = 5120;
// An over-quota maildirsize older than this is rebuilt before refusing mail.
inline constexpr std::time_t maildirsize_stale_s = 15 * 60;
// Rebuilds that raced with other writers are retried this often, then the
// last result is used (Courier "punts" the same way).
inline constexpr int max_recalc_attempts = 5;

struct QuotaSpec {
  std::int64_t max_bytes = 0;     // 0: no limit on the total size
  std::int64_t max_messages = 0;  // 0: no limit on the message count

  bool limited() const { return max_bytes > 0 || max_messages > 0; }
  // As Courier writes it: "5000000S,1000C", "1000C", "" when unlimited.
  std::string to_string() const;
  friend bool operator==(const QuotaSpec&, const QuotaSpec&) = default;
};

// Parses a quota given by an admin (maildirmake -q, MAILDIRQUOTA, userdb's
// quota field): comma-separated "<n>S" / "<n>C", each at most once, n from 1
// to 10^18. Anything else is a permanent error saying what is wrong.
Result<QuotaSpec> parse_quota_spec(std::string_view text);

// Parses the first line of an existing maildirsize as leniently as Courier
// does (digits followed by S or C count, everything else is skipped), so that
// files other programs wrote keep working. *clean (if given) tells whether the
// line was well-formed.
QuotaSpec parse_quota_line(std::string_view line, bool* clean = nullptr);

struct QuotaUsage {
  std::int64_t bytes = 0;
  std::int64_t messages = 0;
};

// The contents of a maildirsize, parsed.
struct MaildirSizeData {
  QuotaSpec quota;
  QuotaUsage usage;             // sums of the usage lines
  std::size_t usage_lines = 0;  // lines after the first
  bool needs_recalc = false;    // too long, negative or unreadable sums
  std::string problem;          // why, for the log ("line 7: ...")
};

// Parses maildirsize contents. Never fails: anything it cannot trust sets
// needs_recalc. Content of maildirsize_max_bytes or more only yields the
// quota definition (Courier reads no further either). A last usage line
// without its newline is skipped: it is a concurrent append seen half-way.
MaildirSizeData parse_maildirsize(std::string_view content);

// One usage line as Courier writes it: "%12lld %12lld\n".
std::string format_usage_line(std::int64_t bytes, std::int64_t messages);

// Courier's maildirquota_countfile: false for a message flagged T (deleted),
// i.e. a 'T' among the upper-case letters right after ":2,".
bool counts_toward_quota(std::string_view file_name);
// Courier's maildirquota_countfolder: false for ".Trash" (also as the last
// component of a path, with or without a trailing '/').
bool folder_counts_toward_quota(std::string_view folder_dir);

// The maildir whose maildirsize holds the quota of `maildir`: its parent if
// `maildir` is a folder (has a maildirfolder file), else maildir itself.
std::string quota_root(const std::string& maildir);

struct QuotaCheck {
  bool has_quota = false;   // maildirsize exists and sets a limit
  bool over_quota = false;  // the addition would exceed a limit
  int percent = 0;          // usage with the addition, % of the tighter limit (100 if over)
  QuotaSpec quota;
  QuotaUsage usage;  // usage before the addition
  bool recalculated = false;
};

// An open maildirsize (Courier's struct maildirsize): open, check, deliver,
// then add() through the same descriptor.
class Quota {
 public:
  // Opens the maildirsize of `maildir` (a folder or a root) and reads it.
  // No maildirsize is not an error: active() is then false (no quota).
  // Errors (temporary): unreadable file, a symlink or non-file in its place.
  static Result<Quota> open(const std::string& maildir);

  bool active() const { return fd_.valid(); }
  const std::string& root() const { return root_; }
  const std::string& path() const { return path_; }
  const MaildirSizeData& data() const { return data_; }

  // Would adding add_bytes / add_messages (negative for removals) exceed the
  // quota? Rebuilds maildirsize first when Courier's rules say so (see the
  // file comment); `now` decides whether the file is stale.
  Result<QuotaCheck> check(std::int64_t add_bytes, std::int64_t add_messages,
                           std::time_t now = std::time(nullptr));

  // Appends "<bytes> <messages>" in one write (no-op when !active()).
  Result<void> add(std::int64_t bytes, std::int64_t messages);

  // Rebuilds maildirsize from the messages on disk now.
  Result<QuotaUsage> recalculate();

  // Uses `spec` instead of the file's definition; the next check() rebuilds
  // the file with it (maildrop's MAILDIRQUOTA differing from the file).
  void override_spec(const QuotaSpec& spec);

 private:
  Quota() = default;
  friend Result<QuotaUsage> set_quota(const std::string& maildir, const QuotaSpec& spec);

  // One rebuild; *raced is set if the maildir changed while it was counted.
  Result<void> rebuild(bool* raced);
  Result<void> rebuild_until_stable();

  std::string root_;
  std::string path_;
  UniqueFd fd_;
  MaildirSizeData data_;
  std::time_t mtime_ = 0;
};

// Quota::open + check. has_quota is false when there is no maildirsize.
Result<QuotaCheck> check_quota(const std::string& maildir, std::int64_t add_bytes,
                               std::int64_t add_messages, std::time_t now = std::time(nullptr));

// Records a change already made on disk (messages removed: negative numbers;
// moved out of Trash: positive), as Courier's maildir_quota_deleted: appends a
// line, or rebuilds the file instead when it needs rebuilding anyway (the
// rebuild sees the change). No-op without maildirsize.
Result<void> update_quota(const std::string& maildir, std::int64_t bytes, std::int64_t messages);

// Rebuilds maildirsize from scratch (no-op, has_quota false, without one).
Result<QuotaCheck> recalculate_quota(const std::string& maildir);

// `maildirmake -q SPEC`: writes a fresh maildirsize with this quota and the
// current usage. An unlimited spec is refused (remove_quota does that).
Result<QuotaUsage> set_quota(const std::string& maildir, const QuotaSpec& spec);

// Removes maildirsize (and with it the quota). Missing is fine.
Result<void> remove_quota(const std::string& maildir);

struct QuotaDeliveryOptions : DeliveryOptions {
  // maildrop's MAILDIRQUOTA / the account's quota: creates maildirsize when
  // missing, replaces a different definition in it.
  std::optional<QuotaSpec> quota;
};

enum class QuotaStatus { delivered, over_quota };

struct QuotaDelivery {
  QuotaStatus status = QuotaStatus::delivered;
  Delivered delivered;  // when delivered
  QuotaCheck check;     // percent includes this message (deliverquota -w)
  std::string warning;  // delivered, but maildirsize could not be updated
};

// Delivers like deliver()/deliver_from_fd(), enforcing the quota as Courier's
// deliverquota and maildrop do: the message is written to tmp/ (its size is
// then known), checked against the quota, published, and its size appended
// to maildirsize. Over quota: nothing is delivered, status over_quota (the
// caller decides between a bounce and a retry). Messages into Trash or
// flagged T are not counted. Errors are as for deliver().
Result<QuotaDelivery> deliver_with_quota(const std::string& maildir, std::string_view message,
                                         const QuotaDeliveryOptions& options = {});
Result<QuotaDelivery> deliver_with_quota_from_fd(const std::string& maildir, int fd,
                                                 const QuotaDeliveryOptions& options = {});

}  // namespace lib::maildir
