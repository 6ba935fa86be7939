// maildrop/delivery.hpp: the places a message can go: a Maildir (through
// lib/maildir_quota: tmp/, fsync, rename, Maildir++ quota), an mbox file
// (dot-lock + fcntl lock), a program (/bin/sh -c, clean environment, time
// limit) and a forward (the suite's sendmail). Runs as the account.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "lib/maildir_quota.hpp"
#include "lib/process.hpp"
#include "lib/result.hpp"
#include "maildrop/message.hpp"

namespace maildrop {

// sysexits(3), as courierd reads them.
inline constexpr int ex_ok = 0;
inline constexpr int ex_usage = 64;
inline constexpr int ex_dataerr = 65;
inline constexpr int ex_nouser = 67;
inline constexpr int ex_unavailable = 69;
inline constexpr int ex_software = 70;
inline constexpr int ex_cantcreat = 73;
inline constexpr int ex_tempfail = 75;
inline constexpr int ex_noperm = 77;
inline constexpr int ex_config = 78;

struct DeliveryContext {
  std::vector<std::string> env;  // the environment programs get ("NAME=value")
  std::string sender;            // envelope sender, for mbox "From " lines and forwards
  std::string sendmail;          // forward program
  std::chrono::seconds program_timeout{300};
  std::optional<lib::maildir::QuotaSpec> quota;  // MAILDIRQUOTA / the account's quota
  int warn_percent = 0;          // -w: quota warning threshold (0: none)
  std::string warn_message_file; // -W: its text (empty: the built-in one)
  std::chrono::seconds lock_timeout{60};
  std::string lock_ext = ".lock";
  std::string flags;             // FLAGS: maildir flags for the delivered message (cur/)
};

enum class TargetKind { maildir, mbox, program, forward };

// What a `to`/`cc` argument names: "|cmd" a program, "!addr..." a forward,
// a directory (or a name ending in '/') a Maildir, anything else an mbox.
TargetKind classify_target(const std::string& target);

// Delivers into a Maildir. Missing directory or tmp/new/cur: temporary error
// naming the path and the fix (maildirmake). Over quota: temporary error.
lib::Result<std::string> deliver_maildir(const Message& m, const std::string& dir, const DeliveryContext& ctx);
// Appends to an mbox (created 0600 when missing and allow_create), "From "
// line and >From quoting, dot-lock and fcntl lock; truncated back on failure.
lib::Result<std::string> deliver_mbox(const Message& m, const std::string& path, const DeliveryContext& ctx,
                                      bool allow_create);
// Runs "/bin/sh -c command" with the message on stdin. Exit 0 is success;
// the returned status lets dot-courier tell 99 apart.
lib::Result<lib::ExitStatus> run_program(const std::string& command, const DeliveryContext& ctx, int stdin_fd,
                                         int stdout_fd);
lib::Result<std::string> deliver_program(const Message& m, const std::string& command, const DeliveryContext& ctx);
// Forwards through ctx.sendmail (-f sender -- addresses...).
lib::Result<std::string> deliver_forward(const Message& m, const std::vector<std::string>& addresses,
                                         const DeliveryContext& ctx);
// Any target (see classify_target).
lib::Result<std::string> deliver_to(const Message& m, const std::string& target, const DeliveryContext& ctx);

// Whether a program's exit code is a permanent failure (dot-courier rules).
bool permanent_exit_code(int code);

// Dot-lock file path + ext, waiting up to timeout; removed by the destructor.
class DotLock {
 public:
  static lib::Result<DotLock> acquire(const std::string& path, std::chrono::seconds timeout);
  DotLock(DotLock&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  DotLock& operator=(DotLock&&) = delete;
  ~DotLock();

 private:
  explicit DotLock(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

}  // namespace maildrop
