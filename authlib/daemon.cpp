// authlib/daemon.cpp: see daemon.hpp.
#include "authlib/daemon.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <map>
#include <optional>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "authlib/chain.hpp"
#include "authlib/daemon_tickets.hpp"
#include "authlib/protocol.hpp"
#include "authlib/userdb_source.hpp"
#include "authlib/verified_cache.hpp"
#include "authlib/worker_slots.hpp"
#include "build-config.h"
#include "lib/event.hpp"
#include "lib/io.hpp"
#include "lib/log.hpp"
#include "lib/privileges.hpp"
#include "lib/unique_fd.hpp"

namespace authlib {
namespace {

constexpr std::string_view known_settings[] = {
    "authmodulelist", "authmodulelistorig", "daemons", "authdaemonvar", "authdaemongroup", "DEBUG_LOGIN",
    "DEFAULTOPTIONS", "LOGGEROPTS", "LDAP_TLS_OPTIONS", "version", "subsystem", "AUTH_TIMEOUT", "LOGFILE",
    "USERDB", "AUTHLDAPRC", "AUTHPGSQLRC", "AUTHPAM_SERVICE", "AUTH_CACHE_TTL"};

constexpr int ex_tempfail = 75;
constexpr int ex_config = 78;
// A request must arrive whole within this time (AUTH_TIMEOUT, if shorter):
// the clients write it in one go, so only a peer holding a worker idle is slower.
constexpr int request_read_deadline_ms = 2000;

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// ---------------------------------------------------------------------------
// Worker

volatile sig_atomic_t worker_stopping = 0;
// What the worker is doing, for the watchdog's last words.
char current_request[512] = "";
int request_timeout_s = 30;

// AUTH_TIMEOUT's watchdog, without a system call per request: the worker
// notes when a request starts (the monotonic clock, read through the vDSO)
// and the one-shot timer (ITIMER_REAL, SIGALRM) is armed only when it is not
// already running. When it fires, a request older than AUTH_TIMEOUT ends the
// worker; a younger one re-arms it for the time that request has left; an
// idle worker lets it lapse, and the next request arms it again. Under load
// that is one signal per AUTH_TIMEOUT, not alarm(n) and alarm(0) per request.
// Lock-free atomics: the handler runs on the worker's own thread.
std::atomic<long long> request_started_ms{0};  // 0: no request in progress
std::atomic<bool> watchdog_armed{false};
static_assert(std::atomic<long long>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);

extern "C" void worker_on_term(int) { worker_stopping = 1; }

long long monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void arm_watchdog(long long ms) {
  itimerval t{};
  t.it_value.tv_sec = static_cast<time_t>(ms / 1000);
  t.it_value.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  if (ms <= 0) t.it_value.tv_usec = 1000;  // 0 would disarm it
  ::setitimer(ITIMER_REAL, &t, nullptr);
}

extern "C" void worker_on_alarm(int) {
  const int saved_errno = errno;
  const long long started = request_started_ms.load();
  if (started == 0) {
    watchdog_armed = false;  // idle: the next request arms it
    errno = saved_errno;
    return;
  }
  const long long left = started + request_timeout_s * 1000LL - monotonic_ms();
  if (left > 0) {
    arm_watchdog(left);
    errno = saved_errno;
    return;
  }
  // Async-signal-safe: only write(2) and _exit. stderr is the log file or
  // syslog's fallback (see run_daemon).
  char msg[768];
  int n = std::snprintf(msg, sizeof msg,
                        "authdaemond[%d]: ERR: request took longer than AUTH_TIMEOUT=%ds and was abandoned "
                        "(%s); its client gets a temporary failure; check the backend's server\n",
                        static_cast<int>(::getpid()), request_timeout_s, current_request);
  if (n > 0) (void)!::write(2, msg, static_cast<size_t>(std::min(n, static_cast<int>(sizeof msg) - 1)));
  ::_exit(ex_tempfail);
}

// A request starts: AUTH_TIMEOUT counts from now.
void watchdog_start() {
  request_started_ms = monotonic_ms();
  // After the store: a timer that fires in between sees the request and re-arms.
  if (!watchdog_armed) {
    watchdog_armed = true;
    arm_watchdog(request_timeout_s * 1000LL);
  }
}

void watchdog_stop() { request_started_ms = 0; }

void set_current_request(const std::string& what) {
  std::snprintf(current_request, sizeof current_request, "%s", what.c_str());
}

// The tables the master maps before forking, shared by every worker.
struct Shared {
  WorkerSlots& slots;
  FailedLogins& failures;
  TicketTable& tickets;
};

// Who is asking (SO_PEERCRED) and what that peer may do.
struct Peer {
  uid_t uid = 0;
  pid_t pid = 0;
  // Root, the mail user, or authdaemond's own user: the login processes and
  // the admin tools. Only these may ENUMERATE and set TCPREMOTEIP.
  bool trusted = false;
};

std::optional<uid_t> mail_user_uid() {
  auto id = lib::mail_user();
  if (!id) return std::nullopt;
  return id->uid;
}

Peer peer_of(int fd, const std::optional<uid_t>& mail_uid) {
  Peer p;
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    p.uid = static_cast<uid_t>(-1);
    return p;
  }
  p.uid = cred.uid;
  p.pid = cred.pid;
  p.trusted = cred.uid == 0 || cred.uid == ::geteuid() || (mail_uid && cred.uid == *mail_uid);
  return p;
}

// A growing delay before a FAIL for AUTH, per account and per peer uid (not
// root's or the mail user's: every login process runs as one of them, so a
// per-uid count there would delay every client for one client's failures);
// a success clears the account's.
void delay_failure(const ChainReply& reply, const Peer& peer, const DaemonConfig& config, FailedLogins& failures) {
  if (reply.user.empty()) return;
  std::string account_key = "a:" + reply.user;
  if (reply.outcome == Outcome::ok) {
    failures.succeeded(account_key);
    return;
  }
  if (reply.outcome != Outcome::rejected) return;
  auto delay = failures.failed(account_key);
  if (!peer.trusted) delay = std::max(delay, failures.failed("u:" + std::to_string(peer.uid)));
  // Never so long that AUTH_TIMEOUT ends the worker.
  delay = std::min<std::chrono::milliseconds>(
      delay, std::chrono::duration_cast<std::chrono::milliseconds>(config.request_timeout) / 2);
  if (delay.count() <= 0) return;
  lib::log::debug("AUTH for %s failed again: answering after %lld ms", reply.user.c_str(),
                  static_cast<long long>(delay.count()));
  // The whole delay, though the watchdog's SIGALRM may interrupt the sleep.
  timespec left{static_cast<time_t>(delay.count() / 1000), static_cast<long>(delay.count() % 1000) * 1000000};
  while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

// One line per request that failed; a successful AUTH or PRE (the bulk of
// the traffic, one per login) only with DEBUG_LOGIN set.
void log_outcome(const ChainReply& reply, bool lookup) {
  const char* ip = std::getenv("TCPREMOTEIP");
  if (reply.outcome == Outcome::ok && lookup) {
    lib::log::debug_if("DEBUG_LOGIN", 1, "%s%s%s", reply.summary.c_str(), ip ? " ip=" : "", ip ? ip : "");
    return;
  }
  auto level = reply.outcome == Outcome::temporary ? lib::log::Level::error : lib::log::Level::info;
  lib::log::write(level, "%s%s%s", reply.summary.c_str(), ip ? " ip=" : "", ip ? ip : "");
}

// Reads and answers one request on fd.
void serve_connection(int fd, Chain& chain, const DaemonConfig& config, const Peer& peer, FailedLogins& failures,
                      TicketTable& tickets) {
  lib::io::ReaderOptions ro;
  ro.max_line_bytes = protocol::max_line_bytes;
  ro.read_timeout_ms = static_cast<int>(config.request_timeout.count() * 1000);
  ro.idle_timeout_ms = ro.read_timeout_ms;
  ro.line_ending = lib::io::LineEnding::lf_lenient;
  ro.fd_kind = lib::io::FdKind::socket;  // from accept4: nothing to look at
  lib::io::Reader in(fd, ro);
  lib::io::WriterOptions wo;
  wo.write_timeout_ms = ro.read_timeout_ms;
  wo.fd_kind = lib::io::FdKind::socket;
  lib::io::Writer out(fd, wo);

  // The whole request within request_read_deadline_ms: each read gets what is left.
  const auto read_deadline =
      std::chrono::steady_clock::now() +
      std::min(std::chrono::milliseconds(request_read_deadline_ms),
               std::chrono::duration_cast<std::chrono::milliseconds>(config.request_timeout));
  auto time_left_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(read_deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<long long>(1, left.count()));
  };
  auto too_slow = [&](lib::io::ReadStatus status) {
    if (status == lib::io::ReadStatus::timeout)
      lib::log::warning("request from uid %u (pid %d) not complete within %d ms; connection closed",
                        static_cast<unsigned>(peer.uid), static_cast<int>(peer.pid), request_read_deadline_ms);
    else if (status != lib::io::ReadStatus::eof)
      lib::log::warning("request not read: %s", lib::io::describe(status));
  };

  std::string line;
  bool want_ticket = false;  // TICKET=1: a login child (authlib/tickets.hpp)
  for (size_t n = 0; n <= protocol::max_metadata_lines; ++n) {
    in.set_timeouts(time_left_ms(), time_left_ms());
    auto status = in.read_line(line);
    if (status != lib::io::ReadStatus::ok) {
      too_slow(status);
      return;
    }
    auto parsed = protocol::parse_line(line);
    if (auto* err = std::get_if<protocol::LineError>(&parsed)) {
      lib::log::warning("malformed request: %s", err->message.c_str());
      (void)out.write_now("FAIL\n");
      return;
    }
    auto& request = std::get<protocol::Line>(parsed);
    if (auto* meta = std::get_if<protocol::Metadata>(&request)) {
      if (meta->name == "TICKET") want_ticket = meta->value == "1";
      // TCPREMOTEIP reaches PAM (PAM_RHOST) and the log: only a login process
      // (root or the mail user) may say where its client is.
      if (meta->name == "TCPREMOTEIP") {
        if (peer.trusted) ::setenv("TCPREMOTEIP", meta->value.c_str(), 1);
        else lib::log::warning("TCPREMOTEIP from uid %u ignored: only root and the mail user (%s) may set it",
                               static_cast<unsigned>(peer.uid), lib::mail_user_name().c_str());
      }
      continue;
    }
    ChainReply reply;
    if (auto* pre = std::get_if<protocol::PreRequest>(&request)) {
      set_current_request("PRE " + pre->service + " " + pre->user);
      reply = chain.pre(*pre);
      // PRE vouches for no secret: tickets for it (EXTERNAL) only to login processes.
      if (want_ticket && peer.trusted) attach_ticket(tickets, reply, pre->service, pre->user);
    } else if (auto* auth = std::get_if<protocol::AuthHeader>(&request)) {
      std::string payload;
      in.set_timeouts(time_left_ms(), time_left_ms());
      auto st = in.read_exact(auth->payload_bytes, payload);
      if (st != lib::io::ReadStatus::ok) {
        too_slow(st);
        return;
      }
      set_current_request("AUTH");
      reply = chain.auth(payload);
      if (want_ticket) attach_ticket(tickets, reply, auth_payload_service(payload), reply.user);
      lib::Secret(std::move(payload)).wipe();
      delay_failure(reply, peer, config, failures);
    } else if (auto* pw = std::get_if<protocol::PasswdRequest>(&request)) {
      set_current_request("PASSWD " + pw->service + " " + pw->user);
      reply = chain.passwd(*pw);
    } else if (auto* redeem = std::get_if<protocol::RedeemRequest>(&request)) {
      set_current_request("REDEEM " + redeem->service);
      reply = redeem_ticket(tickets, *redeem, peer.uid, peer.pid);
    } else if (!peer.trusted) {
      lib::log::warning("ENUMERATE from uid %u refused: only root and the mail user (%s) may list the accounts",
                        static_cast<unsigned>(peer.uid), lib::mail_user_name().c_str());
      (void)out.write_now("FAIL\n");
      return;
    } else {
      set_current_request("ENUMERATE");
      reply = chain.enumerate([&](std::string_view l) {
        out.append(l);
        return !out.failed();
      });
    }
    log_outcome(reply, std::holds_alternative<protocol::PreRequest>(request) ||
                           std::holds_alternative<protocol::AuthHeader>(request));
    if (!reply.reply.empty()) {
      out.append(reply.reply);
      if (auto r = out.flush(); !r) lib::log::warning("reply not sent: %s", r.error().message.c_str());
    }
    return;
  }
  lib::log::warning("malformed request: more than %zu metadata lines", protocol::max_metadata_lines);
}

// Whether `who` (no supplementary groups) has `bits` (S_IRUSR, S_IXUSR) on
// `path`, from its mode and owner.
bool allowed_to(const std::string& path, const lib::Identity& who, mode_t bits) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  if (st.st_uid == who.uid) return (st.st_mode & bits) != 0;
  if (st.st_gid == who.gid) return (st.st_mode & (bits >> 3)) != 0;
  return (st.st_mode & (bits >> 6)) != 0;
}

// Whether `who` can read `path` without root: every directory on the way
// searchable, the file readable (a worker stats and reads it again on change).
bool readable_by(const std::string& path, const lib::Identity& who) {
  if (path.empty() || path[0] != '/') return false;
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1))
    if (!allowed_to(path.substr(0, slash), who, S_IXUSR)) return false;
  return allowed_to("/", who, S_IXUSR) && allowed_to(path, who, S_IRUSR);
}

// Why `who` cannot read path: its mode and owner, and the chgrp/chmod that
// lets it (a missing file: run makeuserdb, for the userdb files).
std::string not_readable_because(const std::string& path, const lib::Identity& who) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return path + " does not exist (" + lib::errno_text(errno) +
           "): run makeuserdb, then restart authdaemond, so that the workers can run as " + who.name;
  auto mode_owner = [](const struct stat& s) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(s.st_mode & 07777));
    return std::string("mode ") + mode + ", owner " + std::to_string(s.st_uid) + ":" + std::to_string(s.st_gid);
  };
  if (allowed_to(path, who, S_IRUSR)) {
    // The file would do: a folder above it is in the way.
    for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      const std::string dir = path.substr(0, slash);
      struct stat dst;
      if (allowed_to(dir, who, S_IXUSR) || ::stat(dir.c_str(), &dst) != 0) continue;
      return path + " is readable, but the folder " + dir + " (" + mode_owner(dst) +
             ") is not searchable by the mail user " + who.name + " (to let the workers run as " + who.name +
             ": chmod o+x " + dir + ", or chgrp " + std::to_string(who.gid) + " " + dir + " && chmod g+x " + dir + ")";
    }
  }
  return path + " (" + mode_owner(st) + ") is not readable by the mail user " + who.name +
         " (to let the workers run as " + who.name + ": chgrp " + std::to_string(who.gid) + " " + path +
         " && chmod 640 " + path + ", and let that user search the folders above it)";
}

// Why the workers must keep root with this authmodulelist, or "" when they
// can run as `mail`: authldap and authpgsql need only their configuration
// file, which they read again when it changes, and authuserdb its two
// databases (makeuserdb writes them root:MAILGROUP, mode 640), so these must
// be readable by the mail user. authpwd, authshadow and authpam read password
// databases only root may read.
std::string why_workers_keep_root(const DaemonConfig& config, const lib::Identity& mail) {
  for (const auto& name : config.modules) {
    std::string rc_file;
    if (name == "authuserdb") {
      const auto paths = userdb::paths_for(config.rc.get_string("USERDB", config.sysconfdir + "/userdb"));
      for (const std::string& file : {paths.dat(), paths.shadow_dat()})
        if (!readable_by(file, mail)) return not_readable_because(file, mail);
      continue;
    }
    if (name == "authldap") {
      rc_file = config.rc.get_string("AUTHLDAPRC", config.sysconfdir + "/authldaprc");
    } else if (name == "authpgsql") {
      rc_file = config.rc.get_string("AUTHPGSQLRC", "");
      if (rc_file.empty()) rc_file = config.sysconfdir + "/authpgsqlrc";
    } else {
      return name + " reads password files only root may read";
    }
    if (!readable_by(rc_file, mail)) return not_readable_because(rc_file, mail);
  }
  return {};
}

[[noreturn]] void worker_main(int listen_fd, const DaemonConfig& config, Shared shared, int slot) {
  WorkerSlots& slots = shared.slots;
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  struct sigaction sa {};
  sa.sa_handler = worker_on_term;  // no SA_RESTART: accept() returns EINTR
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = worker_on_alarm;
  // The watchdog's re-arming ticks (one per AUTH_TIMEOUT under load) must not
  // fail a blocking call in a module's library: restart what can be restarted.
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGALRM, &sa, nullptr);
  sa.sa_flags = 0;
  sa.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  sa.sa_handler = SIG_DFL;
  ::sigaction(SIGCHLD, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  request_timeout_s = static_cast<int>(config.request_timeout.count());

  std::vector<std::unique_ptr<Module>> modules;
  ModuleContext context{config.rc, config.sysconfdir};
  for (const auto& name : config.modules) {
    auto m = make_module(name, context);
    if (!m) {
      lib::log::error("%s: %s", config.rc_path.c_str(), m.error().message.c_str());
      ::_exit(ex_config);
    }
    modules.push_back(std::move(*m));
  }
  Chain chain(std::move(modules), config.rc.get_string("DEFAULTOPTIONS", ""));
  // Modules that need no root (LDAP, PostgreSQL: client libraries parsing
  // server replies) run as the mail user, with no supplementary groups.
  if (::geteuid() == 0) {
    auto mail = lib::mail_user();
    if (mail && why_workers_keep_root(config, *mail).empty()) {
      mail->initgroups_name.clear();
      if (auto dropped = lib::drop_privileges(*mail); !dropped) {
        lib::log::error("worker: %s", dropped.error().message.c_str());
        ::_exit(ex_config);
      }
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // cleared by the uid change
    }
  }
  const std::optional<uid_t> mail_uid = mail_user_uid();
  // One peer uid holds at most half the workers, so idle connections from one
  // uid never stall another. Root and the mail user are exempt: the suite's
  // own login processes, esmtpd sessions, courierd and maildrop are all of
  // them, and one busy SMTP port must not make the others' lookups fail.
  const int per_uid_limit = std::max(1, config.workers / 2);

  while (!worker_stopping) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        lib::log::error("accept: %s; pausing", lib::errno_text(errno).c_str());
        ::sleep(1);
        continue;
      }
      lib::log::error("accept on %s: %s", config.socket_path().c_str(), lib::errno_text(errno).c_str());
      ::_exit(1);
    }
    lib::UniqueFd conn(fd);
    Peer peer = peer_of(fd, mail_uid);
    if (!peer.trusted) {
      int busy = slots.begin(slot, peer.uid);
      if (busy > per_uid_limit) {
        slots.end(slot);
        lib::log::warning("connection from uid %u (pid %d) refused: that uid already holds %d of the %d workers "
                          "(at most %d per uid: half of daemons=%d)",
                          static_cast<unsigned>(peer.uid), static_cast<int>(peer.pid), busy - 1, config.workers,
                          per_uid_limit, config.workers);
        continue;
      }
    }
    ::unsetenv("TCPREMOTEIP");
    watchdog_start();
    serve_connection(fd, chain, config, peer, shared.failures, shared.tickets);
    watchdog_stop();
    slots.end(slot);
  }
  ::_exit(0);
}

// ---------------------------------------------------------------------------
// Master

// Says, once per start or reload, whom the workers run as and why.
void log_worker_identity(const DaemonConfig& config) {
  if (::geteuid() != 0) return;
  auto mail = lib::mail_user();
  if (!mail) {
    lib::log::notice("workers keep root: %s", mail.error().message.c_str());
    return;
  }
  std::string why = why_workers_keep_root(config, *mail);
  if (!why.empty() && config.modules.size() > 1) {
    std::string list;
    for (const auto& m : config.modules) list += (list.empty() ? "" : " ") + m;
    why += "; each worker serves every module of authmodulelist=\"" + list +
           "\", so the workers drop root only when every one of them can";
  }
  if (why.empty()) lib::log::notice("workers run as the mail user %s", mail->name.c_str());
  else lib::log::notice("workers keep root: %s", why.c_str());
}

struct Master {
  DaemonConfig config;
  int listen_fd = -1;
  lib::EventBase base;
  std::map<pid_t, std::chrono::steady_clock::time_point> workers;  // pid -> started
  std::map<pid_t, int> slot_of;  // pid -> its slot in `slots`
  std::optional<WorkerSlots> slots;
  std::optional<FailedLogins> failures;
  std::optional<TicketTable> tickets;
  bool stopping = false;
  int quick_failures = 0;  // workers that died right after starting, in a row
  lib::Event respawn_timer;

  void spawn_workers() {
    while (!stopping && static_cast<int>(workers.size()) < config.workers) {
      int slot = slots->reserve();
      pid_t pid = ::fork();
      if (pid < 0) {
        slots->release(slot);
        lib::log::error("fork: %s; retrying in 5 s", lib::errno_text(errno).c_str());
        schedule_respawn(std::chrono::seconds(5));
        return;
      }
      if (pid == 0) {
        // The child runs no loop. Freeing the base here would remove the
        // parent's events from the epoll set both processes share.
        (void)base.release();
        worker_main(listen_fd, config, Shared{*slots, *failures, *tickets}, slot);
      }
      workers[pid] = std::chrono::steady_clock::now();
      slot_of[pid] = slot;
    }
  }

  void schedule_respawn(std::chrono::seconds delay) {
    timeval tv{static_cast<time_t>(delay.count()), 0};
    event_add(respawn_timer.get(), &tv);
  }

  void reap() {
    int ws;
    pid_t pid;
    bool quick_exit = false;
    while ((pid = ::waitpid(-1, &ws, WNOHANG)) > 0) {
      auto it = workers.find(pid);
      if (it == workers.end()) continue;
      auto lived = std::chrono::steady_clock::now() - it->second;
      workers.erase(it);
      if (auto slot = slot_of.find(pid); slot != slot_of.end()) {
        slots->release(slot->second);
        slot_of.erase(slot);
      }
      if (stopping) continue;
      if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) continue;  // asked to stop (reload)
      if (WIFEXITED(ws) && WEXITSTATUS(ws) == ex_tempfail) continue;  // timed out; it logged why
      if (WIFEXITED(ws) && WEXITSTATUS(ws) == ex_config) {
        quick_exit = true;
        continue;
      }
      lib::log::error("worker %d died (%s); replacing it", static_cast<int>(pid),
                      WIFSIGNALED(ws) ? ::strsignal(WTERMSIG(ws)) : ("exit " + std::to_string(WEXITSTATUS(ws))).c_str());
      if (lived < std::chrono::seconds(1)) quick_exit = true;
    }
    if (stopping) {
      if (workers.empty()) event_base_loopexit(base.get(), nullptr);
      return;
    }
    if (quick_exit) {
      // A worker that cannot even start would otherwise be respawned in a tight loop.
      quick_failures = std::min(quick_failures + 1, 6);
      auto delay = std::chrono::seconds(1 << quick_failures);
      lib::log::error("workers fail right after starting; next attempt in %lld s (see the errors above)",
                      static_cast<long long>(delay.count()));
      schedule_respawn(delay);
      return;
    }
    quick_failures = 0;
    spawn_workers();
  }

  void signal_workers(int sig) {
    for (auto& [pid, started] : workers) ::kill(pid, sig);
  }

  void reload() {
    auto fresh = load_daemon_config(config.rc_path);
    if (!fresh) {
      lib::log::error("reload: %s; keeping the running configuration", fresh.error().message.c_str());
      return;
    }
    for (const auto& w : fresh->rc.warnings()) lib::log::warning("%s", w.c_str());
    if (fresh->var_dir != config.var_dir)
      lib::log::warning("reload: authdaemonvar changed; the socket moves only on restart (authdaemond restart)");
    fresh->var_dir = config.var_dir;
    config = std::move(*fresh);
    lib::log::set_debug_switch("DEBUG_LOGIN", static_cast<int>(config.rc.get_int("DEBUG_LOGIN", 0, 0, 2)));
    lib::log::notice("reloaded %s: modules %s, %d workers", config.rc_path.c_str(),
                     config.rc.get_string("authmodulelist", "").c_str(), config.workers);
    // Old workers finish their request and exit 0; reap() starts new ones with the new configuration.
    log_worker_identity(config);
    quick_failures = 0;
    signal_workers(SIGTERM);
  }
};

extern "C" void on_signal(evutil_socket_t sig, short, void* arg) noexcept {
  auto* m = static_cast<Master*>(arg);
  try {
    switch (sig) {
      case SIGCHLD:
        m->reap();
        break;
      case SIGHUP:
        m->reload();
        break;
      default:  // SIGTERM, SIGINT
        if (!m->stopping) lib::log::notice("stopping");
        m->stopping = true;
        m->signal_workers(SIGTERM);
        if (m->workers.empty()) event_base_loopexit(m->base.get(), nullptr);
        break;
    }
  } catch (const std::exception& e) {
    lib::log::error("signal handling: %s", e.what());
  }
}

extern "C" void on_respawn(evutil_socket_t, short, void* arg) noexcept {
  try {
    static_cast<Master*>(arg)->spawn_workers();
  } catch (const std::exception& e) {
    lib::log::error("respawn: %s", e.what());
  }
}

// Creates the socket directory (0750) and listens on <dir>/socket, replacing a
// stale socket atomically.
lib::Result<lib::UniqueFd> listen_on_socket(const DaemonConfig& config) {
  const std::string dir = config.var_dir;
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
    return lib::permanent_error("cannot create authdaemonvar directory " + dir + ": " + lib::errno_text(errno));
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return lib::permanent_error("authdaemonvar " + dir + " is not a directory");
  if (::geteuid() == 0) {
    // root: the directory belongs to root and the mail group, so only the mail services get in.
    gid_t gid = 0;
    if (struct group* g = ::getgrnam(config.group.c_str())) gid = g->gr_gid;
    if (::chown(dir.c_str(), 0, gid) != 0)
      lib::log::warning("chown %s: %s", dir.c_str(), lib::errno_text(errno).c_str());
  }
  ::chmod(dir.c_str(), 0750);

  std::string path = config.socket_path();
  std::string temp = path + ".new." + std::to_string(::getpid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (temp.size() >= sizeof addr.sun_path)
    return lib::permanent_error("socket path " + temp + " is too long for a Unix socket (max " +
                                std::to_string(sizeof addr.sun_path - 1) + " bytes); choose a shorter authdaemonvar");
  std::memcpy(addr.sun_path, temp.c_str(), temp.size() + 1);
  lib::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return lib::temporary_error("socket: " + lib::errno_text(errno));
  ::unlink(temp.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return lib::permanent_error("cannot bind " + temp + ": " + lib::errno_text(errno));
  // The directory's mode is the access control; the socket itself is open.
  ::chmod(temp.c_str(), 0777);
  if (::listen(fd.get(), 128) != 0) return lib::temporary_error("listen on " + temp + ": " + lib::errno_text(errno));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return lib::permanent_error("cannot rename " + temp + " to " + path + ": " + lib::errno_text(errno));
  }
  return fd;
}

// Takes the pid file's lock, so two daemons cannot share one socket directory.
lib::Result<lib::UniqueFd> lock_pid_file(const DaemonConfig& config) {
  lib::UniqueFd fd(::open(config.pid_path().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return lib::permanent_error("cannot open " + config.pid_path() + ": " + lib::errno_text(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    pid_t other = running_daemon_pid(config);
    return lib::permanent_error("authdaemond is already running" +
                                (other ? " (pid " + std::to_string(other) + ")" : std::string()) + " on " +
                                config.socket_path() + "; stop it first (authdaemond stop)");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    return lib::permanent_error("cannot write " + config.pid_path() + ": " + lib::errno_text(errno));
  return fd;
}

void report_ready(int ready_fd, const std::string& text) {
  if (ready_fd < 0) return;
  (void)!::write(ready_fd, text.data(), text.size());
  ::close(ready_fd);
}

}  // namespace

lib::Result<DaemonConfig> load_daemon_config(const std::string& rc_path) {
  auto rc = lib::Config::load_file(rc_path);
  if (!rc) return rc.error();
  DaemonConfig c;
  c.rc_path = rc_path;
  c.rc = std::move(*rc);
  std::vector<std::string_view> known(std::begin(known_settings), std::end(known_settings));
  std::vector<std::string> dynamic;
  for (const auto& n : c.rc.names())
    if (n.starts_with("LDAPTLS_") || n.starts_with("AUTHPAM_SERVICE_")) dynamic.push_back(n);
  for (const auto& n : dynamic) known.push_back(n);
  c.rc.warn_unknown(known);

  c.modules = c.rc.get_list("authmodulelist");
  if (c.modules.empty())
    return lib::permanent_error(rc_path + ": authmodulelist is empty or missing; set it, e.g. "
                                "authmodulelist=\"authuserdb authpam\"");
  c.workers = static_cast<int>(c.rc.get_int("daemons", 5, 1, 1000));
  c.var_dir = c.rc.get_string("authdaemonvar", LOCALSTATEDIR "/authdaemon");
  c.group = c.rc.get_string("authdaemongroup", MAILUSER);
  c.request_timeout = c.rc.get_duration("AUTH_TIMEOUT", std::chrono::seconds(30));
  if (c.request_timeout.count() < 1) c.request_timeout = std::chrono::seconds(1);
  c.log_file = c.rc.get_string("LOGFILE", "");
  c.sysconfdir = dirname_of(rc_path);

  // Construct each module once, so a mistake stops the start with its message
  // instead of failing every request.
  ModuleContext context{c.rc, c.sysconfdir};
  for (const auto& name : c.modules) {
    auto m = make_module(name, context);
    if (!m) return lib::permanent_error(rc_path + ": " + m.error().message);
  }
  // The workers forked after this inherit it (authlib/verified_cache.hpp).
  verified_cache().configure(c.rc.get_duration("AUTH_CACHE_TTL", std::chrono::seconds(60)));
  return c;
}

pid_t running_daemon_pid(const DaemonConfig& config) {
  lib::UniqueFd fd(::open(config.pid_path().c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  // A pid file whose lock nobody holds is stale.
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return 0;
  char buf[32] = {};
  if (::pread(fd.get(), buf, sizeof buf - 1, 0) <= 0) return 0;
  return static_cast<pid_t>(std::atol(buf));
}

lib::Result<void> run_daemon(const DaemonConfig& config, int ready_fd) {
  auto fail = [&](lib::Error e) -> lib::Result<void> {
    report_ready(ready_fd, e.message + "\n");
    return e;
  };
  {
    struct stat st;
    if (::mkdir(config.var_dir.c_str(), 0750) != 0 && errno != EEXIST)
      return fail(lib::permanent_error("cannot create authdaemonvar directory " + config.var_dir + ": " +
                                       lib::errno_text(errno)));
    if (::stat(config.var_dir.c_str(), &st) != 0)
      return fail(lib::permanent_error(config.var_dir + ": " + lib::errno_text(errno)));
  }
  auto pid_lock = lock_pid_file(config);
  if (!pid_lock) return fail(pid_lock.error());
  auto listener = listen_on_socket(config);
  if (!listener) return fail(listener.error());

  Master m;
  m.config = config;
  auto slots = WorkerSlots::create();
  if (!slots) return fail(slots.error());
  m.slots.emplace(std::move(*slots));
  auto failures = FailedLogins::create();
  if (!failures) return fail(failures.error());
  m.failures.emplace(std::move(*failures));
  auto tickets = TicketTable::create();
  if (!tickets) return fail(tickets.error());
  m.tickets.emplace(std::move(*tickets));
  m.listen_fd = listener->get();
  m.base.reset(event_base_new());
  if (!m.base) return fail(lib::temporary_error("event_base_new failed"));
  lib::log::set_debug_switch("DEBUG_LOGIN", static_cast<int>(config.rc.get_int("DEBUG_LOGIN", 0, 0, 2)));

  std::vector<lib::Event> signals;
  for (int sig : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) {
    signals.emplace_back(evsignal_new(m.base.get(), sig, on_signal, &m));
    event_add(signals.back().get(), nullptr);
  }
  ::signal(SIGPIPE, SIG_IGN);
  m.respawn_timer.reset(evtimer_new(m.base.get(), on_respawn, &m));

  // Ready before the workers exist: they would inherit the pipe, and a
  // client that connects now waits in the listen queue for the first one.
  report_ready(ready_fd, "ok\n");
  m.spawn_workers();
  lib::log::notice("listening on %s with %d workers, modules: %s", config.socket_path().c_str(), config.workers,
                   config.rc.get_string("authmodulelist", "").c_str());
  log_worker_identity(m.config);
  event_base_dispatch(m.base.get());

  ::unlink(config.socket_path().c_str());
  ::unlink(config.pid_path().c_str());
  lib::log::notice("stopped");
  return {};
}

}  // namespace authlib
