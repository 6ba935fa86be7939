// maildrop/delivery.cpp: see delivery.hpp.
#include "maildrop/delivery.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <thread>

#include "lib/log.hpp"
#include "lib/unique_fd.hpp"

namespace maildrop {
namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

lib::Result<void> write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error("writing " + what + ": " + lib::errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// The quota warning, at most once a day per maildir (Courier's "quotawarn" file).
void maybe_warn_quota(const std::string& dir, int percent, const DeliveryContext& ctx) {
  if (ctx.warn_percent <= 0 || percent < ctx.warn_percent) return;
  std::string root = lib::maildir::quota_root(dir);
  std::string stamp = root + "/quotawarn";
  struct stat st;
  std::time_t now = std::time(nullptr);
  if (::stat(stamp.c_str(), &st) == 0 && now - st.st_mtime < 24 * 60 * 60) return;
  std::string text;
  if (!ctx.warn_message_file.empty()) {
    lib::UniqueFd f(::open(ctx.warn_message_file.c_str(), O_RDONLY | O_CLOEXEC));
    char buf[8192];
    ssize_t n;
    while (f && (n = ::read(f.get(), buf, sizeof buf)) > 0 && text.size() < 65536) text.append(buf, n);
    if (!f) lib::log::warning("quota warning text %s cannot be read (%s); using the built-in text",
                              ctx.warn_message_file.c_str(), lib::errno_text(errno).c_str());
  }
  if (text.empty()) {
    char date[64];
    struct tm tmv;
    ::gmtime_r(&now, &tmv);
    ::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tmv);
    text = std::string("From: Mail Delivery System <MAILER-DAEMON>\nSubject: Mail quota warning\n") +
           "Date: " + date + "\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n" +
           "Your mailbox is " + std::to_string(percent) + "% full.\n\n" +
           "When it is full, new mail will wait at the server and may be returned\n"
           "to its senders. Please delete mail you no longer need.\n";
  }
  auto r = lib::maildir::deliver(root, text);
  if (!r) {
    lib::log::warning("quota warning for %s not delivered: %s", root.c_str(), r.error().message.c_str());
    return;
  }
  lib::UniqueFd s(::open(stamp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ::futimens(s.get(), nullptr);
}

}  // namespace

bool permanent_exit_code(int code) {
  switch (code) {
    case 64: case 65: case 67: case 68: case 69: case 70: case 76: case 77: case 78: case 100: case 112:
      return true;
    default:
      return false;
  }
}

TargetKind classify_target(const std::string& t) {
  if (!t.empty() && t[0] == '|') return TargetKind::program;
  if (!t.empty() && t[0] == '!') return TargetKind::forward;
  if (!t.empty() && t.back() == '/') return TargetKind::maildir;
  if (is_dir(t)) return TargetKind::maildir;
  // A missing ".Name" inside a maildir is a folder someone forgot to create,
  // not a new mbox file that no IMAP client would ever show.
  auto slash = t.rfind('/');
  std::string parent = slash == std::string::npos ? "." : t.substr(0, slash);
  std::string base = slash == std::string::npos ? t : t.substr(slash + 1);
  if (base.size() > 1 && base[0] == '.' && is_dir(parent + "/tmp") && is_dir(parent + "/new")) return TargetKind::maildir;
  return TargetKind::mbox;
}

lib::Result<std::string> deliver_maildir(const Message& m, const std::string& dir_in, const DeliveryContext& ctx) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    int err = errno;
    std::string fix = "; create it: maildirmake " + dir;
    auto slash = dir.rfind('/');
    std::string parent = slash == std::string::npos ? "." : dir.substr(0, slash);
    std::string base = slash == std::string::npos ? dir : dir.substr(slash + 1);
    if (base.size() > 1 && base[0] == '.' && is_dir(parent + "/tmp"))
      fix = "; create the folder: maildirmake -f " + base.substr(1) + " " + parent;
    return lib::temporary_error("maildir " + dir + ": " + lib::errno_text(err) + (err == ENOENT ? fix : std::string()));
  }
  for (const char* sub : {"tmp", "new", "cur"}) {
    std::string p = dir + "/" + sub;
    if (::stat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return lib::temporary_error("maildir " + dir + " has no " + sub + "/ directory (" + lib::errno_text(errno) +
                                  "); repair it: maildirmake " + dir);
  }
  if (::access((dir + "/tmp").c_str(), W_OK) != 0 || ::access((dir + "/new").c_str(), W_OK) != 0)
    return lib::temporary_error("maildir " + dir + " is not writable by uid " + std::to_string(::geteuid()) + ": " +
                                lib::errno_text(errno) + "; give it to the account: chown -R " +
                                std::to_string(::geteuid()) + " " + dir);
  if (auto r = m.rewind(); !r) return r.error();
  lib::maildir::QuotaDeliveryOptions opts;
  opts.quota = ctx.quota;
  if (!ctx.flags.empty()) {
    opts.location = lib::maildir::Location::cur_dir;
    opts.flags = ctx.flags;
  }
  auto r = lib::maildir::deliver_with_quota_from_fd(dir, m.fd(), opts);
  if (!r) return lib::temporary_error("delivery to maildir " + dir + " failed: " + r.error().message);
  if (r->status == lib::maildir::QuotaStatus::over_quota)
    return lib::temporary_error("maildir " + dir + " is over its quota (" + r->check.quota.to_string() +
                                "; " + std::to_string(r->check.usage.bytes) + " bytes in " +
                                std::to_string(r->check.usage.messages) + " messages); the mail waits until the account makes room");
  if (!r->warning.empty()) lib::log::warning("%s", r->warning.c_str());
  if (r->check.has_quota) maybe_warn_quota(dir, r->check.percent, ctx);
  return "maildir " + dir + " (" + r->delivered.file_name + ")";
}

DotLock::~DotLock() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

lib::Result<DotLock> DotLock::acquire(const std::string& lock_path, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int fd = ::open(lock_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      std::string pid = std::to_string(::getpid()) + "\n";
      (void)!::write(fd, pid.data(), pid.size());
      ::close(fd);
      return DotLock(lock_path);
    }
    if (errno != EEXIST)
      return lib::temporary_error("cannot create lock file " + lock_path + ": " + lib::errno_text(errno) +
                                  "; the account needs write access to that directory");
    struct stat st;
    // A lock older than 5 minutes is stale (its holder died), as in maildrop.
    if (::stat(lock_path.c_str(), &st) == 0 && std::time(nullptr) - st.st_mtime > 300) {
      ::unlink(lock_path.c_str());
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return lib::temporary_error("lock file " + lock_path + " still held after " + std::to_string(timeout.count()) +
                                  " s (LOCKTIMEOUT); remove it if no process holds it");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

lib::Result<std::string> deliver_mbox(const Message& m, const std::string& path, const DeliveryContext& ctx,
                                      bool allow_create) {
  auto lock = DotLock::acquire(path + ctx.lock_ext, ctx.lock_timeout);
  if (!lock) return lock.error();
  lib::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (allow_create ? O_CREAT : 0), 0600));
  if (!fd)
    return lib::temporary_error("cannot open mailbox file " + path + ": " + lib::errno_text(errno));
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_SETLKW, &fl) != 0)
    return lib::temporary_error("cannot lock mailbox file " + path + ": " + lib::errno_text(errno));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return lib::temporary_error("mailbox " + path + " is not a regular file");
  off_t original = st.st_size;
  auto fail = [&](lib::Error e) -> lib::Result<std::string> {
    if (::ftruncate(fd.get(), original) != 0) lib::log::error("mbox %s: cannot undo a partial write: %s", path.c_str(), lib::errno_text(errno).c_str());
    return e;
  };
  std::time_t now = std::time(nullptr);
  char date[64];
  struct tm tmv;
  ::gmtime_r(&now, &tmv);
  ::strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tmv);
  std::string out = "From " + (ctx.sender.empty() ? std::string("MAILER-DAEMON") : ctx.sender) + " " + date + "\n";
  // Body lines are copied with mboxrd quoting: ">*From " gets one more '>'.
  char buf[65536];
  off_t off = 0;
  bool at_line_start = true;
  std::string pending;  // a possible ">>>From" prefix split across reads
  bool last_nl = true;
  while (true) {
    ssize_t n = ::pread(m.fd(), buf, sizeof buf, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(lib::temporary_error("reading the message: " + lib::errno_text(errno)));
    }
    if (n == 0) break;
    off += n;
    for (ssize_t i = 0; i < n; ++i) {
      char c = buf[i];
      if (at_line_start || !pending.empty()) {
        pending += c;
        std::string_view p(pending);
        std::size_t gt = 0;
        while (gt < p.size() && p[gt] == '>') ++gt;
        std::string_view tail = p.substr(gt);
        if (tail.size() < 5 && std::string_view("From ").substr(0, tail.size()) == tail) {
          at_line_start = false;
          if (c == '\n') { out += pending; pending.clear(); at_line_start = true; }
          continue;  // undecided yet
        }
        if (tail.substr(0, 5) == "From ") out += '>';
        out += pending;
        pending.clear();
        at_line_start = c == '\n';
        last_nl = c == '\n';
        continue;
      }
      out += c;
      last_nl = c == '\n';
      at_line_start = c == '\n';
    }
    if (out.size() >= sizeof buf) {
      if (auto w = write_all(fd.get(), out, "mailbox file " + path); !w) return fail(w.error());
      out.clear();
    }
  }
  out += pending;
  if (!pending.empty()) last_nl = pending.back() == '\n';
  if (!last_nl) out += '\n';
  out += '\n';
  if (auto w = write_all(fd.get(), out, "mailbox file " + path); !w) return fail(w.error());
  if (::fsync(fd.get()) != 0) return fail(lib::temporary_error("fsync of mailbox file " + path + ": " + lib::errno_text(errno)));
  return "mbox " + path;
}

lib::Result<lib::ExitStatus> run_program(const std::string& command, const DeliveryContext& ctx, int stdin_fd,
                                         int stdout_fd) {
  lib::SpawnOptions so;
  so.argv = {"/bin/sh", "-c", command};
  so.env = ctx.env;
  so.stdin_fd = stdin_fd;
  so.stdout_fd = stdout_fd;
  so.new_process_group = true;
  auto child = lib::ChildProcess::spawn(so);
  if (!child) return lib::temporary_error("cannot run \"" + command + "\": " + child.error().message);
  auto st = child->wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(ctx.program_timeout));
  if (!st) {
    child->terminate(std::chrono::milliseconds(2000));
    return lib::temporary_error("program \"" + command + "\" ran longer than " + std::to_string(ctx.program_timeout.count()) +
                                " s and was killed (raise PROGRAMTIMEOUT if it needs longer)");
  }
  return *st;
}

lib::Result<std::string> deliver_program(const Message& m, const std::string& command, const DeliveryContext& ctx) {
  if (auto r = m.rewind(); !r) return r.error();
  auto st = run_program(command, ctx, m.fd(), -1);
  if (!st) return st.error();
  if (st->success()) return "program " + command;
  std::string why = "program \"" + command + "\" failed: " + st->describe();
  if (st->exited && permanent_exit_code(st->code)) return lib::permanent_error(why);
  return lib::temporary_error(why);
}

lib::Result<std::string> deliver_forward(const Message& m, const std::vector<std::string>& addresses,
                                         const DeliveryContext& ctx) {
  if (addresses.empty()) return lib::permanent_error("forward without an address");
  if (ctx.sendmail.empty() || ::access(ctx.sendmail.c_str(), X_OK) != 0)
    return lib::temporary_error("cannot forward to " + addresses[0] + ": no sendmail program at " +
                                (ctx.sendmail.empty() ? std::string("(SENDMAIL is empty)") : ctx.sendmail) +
                                " (" + lib::errno_text(errno) + "); install esmtpd's sendmail or set SENDMAIL");
  if (auto r = m.rewind(m.forward_offset()); !r) return r.error();
  lib::SpawnOptions so;
  so.argv = {ctx.sendmail, "-f", ctx.sender.empty() ? std::string("") : ctx.sender, "--"};
  for (const auto& a : addresses) so.argv.push_back(a);
  so.env = ctx.env;
  so.stdin_fd = m.fd();
  auto child = lib::ChildProcess::spawn(so);
  if (!child) return lib::temporary_error("cannot run " + ctx.sendmail + ": " + child.error().message);
  auto st = child->wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(ctx.program_timeout));
  if (!st) {
    child->terminate(std::chrono::milliseconds(2000));
    return lib::temporary_error(ctx.sendmail + " did not finish in time");
  }
  if (!st->success()) {
    std::string why = "forward through " + ctx.sendmail + " failed: " + st->describe();
    return st->exited && permanent_exit_code(st->code) ? lib::Result<std::string>(lib::permanent_error(why))
                                                       : lib::Result<std::string>(lib::temporary_error(why));
  }
  std::string list;
  for (const auto& a : addresses) list += (list.empty() ? "" : ", ") + a;
  return "forward to " + list;
}

lib::Result<std::string> deliver_to(const Message& m, const std::string& target, const DeliveryContext& ctx) {
  switch (classify_target(target)) {
    case TargetKind::program: {
      std::string cmd = target.substr(1);
      while (!cmd.empty() && (cmd[0] == ' ' || cmd[0] == '\t')) cmd.erase(0, 1);
      return deliver_program(m, cmd, ctx);
    }
    case TargetKind::forward: {
      std::vector<std::string> addrs;
      std::string cur;
      for (char c : target.substr(1) + " ") {
        if (c == ' ' || c == ',' || c == '\t') {
          if (!cur.empty()) addrs.push_back(cur);
          cur.clear();
        } else {
          cur += c;
        }
      }
      return deliver_forward(m, addrs, ctx);
    }
    case TargetKind::maildir:
      return deliver_maildir(m, target, ctx);
    case TargetKind::mbox:
      return deliver_mbox(m, target, ctx, true);
  }
  return lib::permanent_error("unknown target");
}

}  // namespace maildrop
