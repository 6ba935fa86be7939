// courierd: the scheduler (see scheduler.hpp), and the helpers of the `courier`
// start script:
//   courierd [-c sysconfdir]               run in the foreground (the start script
//                                          puts it in the background)
//   courierd [-c dir] --status             is it running, how many messages wait, the oldest
//   courierd [-c dir] --flush [qid]        retry now (all, or one message)
//   courierd [-c dir] --check              read the configuration, report problems, exit
//
// Runs as: started as root, it keeps a small root helper for local deliveries
// (local_delivery.hpp) and runs the scheduler as MAILUSER. It reads only its own
// configuration and the queue's files; remote replies are parsed by courieresmtp.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "build-config.h"
#include "courierd/local_delivery.hpp"
#include "courierd/privileges.hpp"
#include "courierd/queue_access.hpp"
#include "courierd/scheduler.hpp"
#include "courierd/settings.hpp"
#include "lib/log.hpp"
#include "lib/queue.hpp"
#include "lib/rfc5322.hpp"
#include "lib/unique_fd.hpp"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: courierd [-c sysconfdir] [--status | --flush [qid] | --check]\n"
               "  the scheduler of the mail queue; normally run by \"courier start\". See courierd(8).\n");
}

std::string lock_path(const courierd::Settings& s) { return s.queuedir + "/courierd.lock"; }

// The pid of the running scheduler, or 0 when none holds the lock.
long running_pid(const courierd::Settings& s) {
  long pid = 0;
  if (!lib::queue::courierd_running(s.queuedir, &pid)) return 0;
  return pid > 0 ? pid : -1;
}

int status(const courierd::Settings& s) {
  long pid = running_pid(s);
  if (pid != 0)
    std::printf("courierd: running (pid %ld)\n", pid);
  else
    std::printf("courierd: NOT running: accepted mail waits in %s until it starts (run: courier start)\n",
                s.queuedir.c_str());
  auto qids = courierd::list_queue(s.queuedir);
  if (!qids) {
    std::printf("queue: %s\n", qids.error().message.c_str());
    return pid ? 0 : 3;
  }
  std::time_t oldest = 0;
  std::string oldest_qid;
  size_t pending_rcpts = 0;
  for (const auto& qid : *qids) {
    auto m = courierd::load_message(s.queuedir, qid);
    if (!m) continue;
    for (const auto& r : m->rcpts)
      if (!r.final_kind) ++pending_rcpts;
    if (!oldest || m->accepted < oldest) {
      oldest = m->accepted;
      oldest_qid = qid;
    }
  }
  std::printf("queue: %s: %zu message(s) waiting, %zu recipient(s) pending\n", s.queuedir.c_str(), qids->size(),
              pending_rcpts);
  if (oldest)
    std::printf("oldest: id=%s accepted %s (%lld s ago)\n", oldest_qid.c_str(),
                lib::rfc5322::format_date(oldest, 0).c_str(), static_cast<long long>(std::time(nullptr) - oldest));
  return pid ? 0 : 3;
}

int flush(const courierd::Settings& s, const std::string& qid) {
  std::string path = s.queuedir + "/trigger";
  lib::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    std::fprintf(stderr, "courierd is not running (%s: %s): run courier start\n", path.c_str(),
                 lib::errno_text(errno).c_str());
    return 1;
  }
  std::string text = "flush " + qid + "\n";
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    std::fprintf(stderr, "writing %s: %s\n", path.c_str(), lib::errno_text(errno).c_str());
    return 1;
  }
  std::printf("courierd: asked to retry %s now\n", qid.empty() ? "every message" : ("message " + qid).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sysconfdir, mode, qid;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-c" && i + 1 < argc) {
      sysconfdir = argv[++i];
    } else if (a == "--status" || a == "--check") {
      mode = a;
    } else if (a == "--flush") {
      mode = a;
      if (i + 1 < argc && argv[i + 1][0] != '-') qid = argv[++i];
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      usage();
      return 64;
    }
  }
  auto loaded = courierd::load_settings(sysconfdir);
  if (!loaded) {
    std::fprintf(stderr, "courierd: %s\n", loaded.error().message.c_str());
    return 78;
  }
  const courierd::Settings& s = *loaded;
  if (mode == "--status") return status(s);
  if (mode == "--flush") return flush(s, qid);

  lib::log::Options lo;
  if (!s.logfile.empty() && mode != "--check") {
    lo.target = lib::log::Target::file;
    lo.file_path = s.logfile;
  }
  lib::log::open("courierd", lo);
  for (const auto& w : s.warnings) lib::log::warning("courierd: %s", w.c_str());
  auto delivery = courierd::check_delivery_program(s);
  if (!delivery) lib::log::error("courierd: %s; local mail is deferred until this is fixed", delivery.error().message.c_str());
  if (mode == "--check") {
    std::printf("courierd: configuration read from %s; queue %s; me=%s\n", s.sysconfdir.c_str(), s.queuedir.c_str(),
                s.me.c_str());
    return delivery ? 0 : 1;
  }

  std::optional<courierd::MailUser> mail_user;
  if (::geteuid() == 0) {
    auto mu = courierd::find_mail_user(s.mailuser, s.mailgroup);
    if (!mu) {
      lib::log::critical("courierd: %s", mu.error().message.c_str());
      return 78;
    }
    mail_user = *mu;
  }
  // The queue's parents (localstatedir/spool) on a fresh install.
  for (size_t slash = s.queuedir.find('/', 1); slash != std::string::npos; slash = s.queuedir.find('/', slash + 1))
    ::mkdir(s.queuedir.substr(0, slash).c_str(), 0755);
  if (auto ok = courierd::ensure_queue_layout(s.queuedir); !ok) {
    lib::log::critical("courierd: %s", ok.error().message.c_str());
    return 75;
  }
  if (mail_user && !s.logfile.empty() && ::chown(s.logfile.c_str(), mail_user->uid, mail_user->gid) != 0)
    lib::log::warning("courierd: chown %s: %s", s.logfile.c_str(), lib::errno_text(errno).c_str());
  if (mail_user) {
    for (const char* sub : {"", "/tmp", "/msgs"}) {
      std::string p = s.queuedir + sub;
      if (::chown(p.c_str(), mail_user->uid, mail_user->gid) != 0)
        lib::log::warning("courierd: chown %s to %s: %s", p.c_str(), mail_user->name.c_str(),
                          lib::errno_text(errno).c_str());
    }
  }
  lib::UniqueFd lock(::open(lock_path(s).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock) {
    lib::log::critical("courierd: cannot open %s: %s", lock_path(s).c_str(), lib::errno_text(errno).c_str());
    return 75;
  }
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    long pid = running_pid(s);
    lib::log::error("courierd: already running (pid %ld holds %s)", pid, lock_path(s).c_str());
    std::fprintf(stderr, "courierd: already running (pid %ld holds %s)\n", pid, lock_path(s).c_str());
    return 1;
  }
  std::string pid_text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock.get(), 0) != 0 || ::pwrite(lock.get(), pid_text.data(), pid_text.size(), 0) < 0)
    lib::log::warning("courierd: writing the pid into %s: %s", lock_path(s).c_str(), lib::errno_text(errno).c_str());
  if (mail_user && ::fchown(lock.get(), mail_user->uid, mail_user->gid) != 0)
    lib::log::warning("courierd: chown %s: %s", lock_path(s).c_str(), lib::errno_text(errno).c_str());

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    lib::log::critical("courierd: socketpair: %s", lib::errno_text(errno).c_str());
    return 75;
  }
  pid_t helper = ::fork();
  if (helper < 0) {
    lib::log::critical("courierd: fork: %s", lib::errno_text(errno).c_str());
    return 75;
  }
  if (helper == 0) {
    // The delivery helper: keeps root (when started as root) and does nothing else.
    ::close(sv[0]);
    lock.reset();
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    return courierd::run_delivery_helper(sv[1], s);
  }
  ::close(sv[1]);
  if (mail_user) {
    if (auto ok = courierd::drop_to(*mail_user); !ok) {
      lib::log::critical("courierd: %s", ok.error().message.c_str());
      return 1;
    }
  }
  courierd::SchedulerOptions opts;
  opts.helper_socket = sv[0];
  const char* esmtp = std::getenv("COURIERESMTP");
  opts.courieresmtp = esmtp && *esmtp ? esmtp : std::string(LIBEXECDIR) + "/courieresmtp";
  int rc = courierd::run_scheduler(s, opts);
  ::close(sv[0]);
  ::kill(helper, SIGTERM);
  return rc;
}
