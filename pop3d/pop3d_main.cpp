// pop3d: the POP3 server proper (RFC 1939 TRANSACTION and UPDATE states) on
// a Maildir, executed by pop3login once a login succeeded:
//
//   pop3d [maildir]      (default: $MAILDIR, else ./Maildir)
//
// It runs as the account, in its home directory, with the connection (or the
// plaintext side of couriertls) on fds 0 and 1, sends the reply to the login
// command ("+OK logged in."), serves the session, and logs one line at the
// end with what was retrieved and deleted.
//
// SECURITY: runs as the account, never as root; reads commands from a client
// that has logged in (session.hpp for the limits) and files of the account's
// own Maildir (courierpop3dsizelist is parsed defensively, sizelist.hpp).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "lib/log.hpp"
#include "lib/privileges.hpp"
#include "lib/process.hpp"
#include "pop3d/mailbox.hpp"
#include "pop3d/replies.hpp"
#include "pop3d/session.hpp"
#include "pop3d/settings.hpp"

namespace {

void write_line(std::string_view text) {
  std::string line(text);
  line += "\r\n";
  ssize_t n = ::send(1, line.data(), line.size(), MSG_NOSIGNAL);
  if (n < 0 && errno == ENOTSOCK) n = ::write(1, line.data(), line.size());
  (void)n;
}

// Courier's loginexec (COURIER-COMPAT.md section 12): an executable
// "loginexec" in the maildir runs once at login, and is removed when it
// exits 0. Its output goes to the log, never to the client.
void run_loginexec(const std::string& user) {
  if (::access("loginexec", X_OK) != 0) return;
  lib::SpawnOptions o;
  o.argv = {"./loginexec"};
  o.inherit_env = true;
  o.stdout_fd = 2;
  o.stderr_fd = 2;
  auto child = lib::ChildProcess::spawn(o);
  if (!child) {
    lib::log::warning("user=%s: loginexec: %s", user.c_str(), child.error().message.c_str());
    return;
  }
  auto status = child->wait();
  if (status.success()) {
    ::unlink("loginexec");
  } else {
    lib::log::warning("user=%s: loginexec ended with %s; it stays and runs again at the next login",
                      user.c_str(), status.describe().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  const auto started = std::chrono::steady_clock::now();
  lib::Config env = pop3d::environment_config();
  lib::log::open("pop3d", pop3d::log_options(env));
  std::vector<std::string> warnings;
  pop3d::ServerSettings settings = pop3d::load_server_settings(env, warnings);
  for (const auto& w : warnings) lib::log::warning("%s", w.c_str());
  if (argc > 1 && argv[1][0] != 0) settings.maildir = argv[1];
  const std::string& user = settings.user;
  const std::string peer = "ip=[" + settings.peer.remote_ip + "], port=[" + settings.peer.remote_port + "]";

  if (auto not_root = lib::refuse_root("pop3d"); !not_root) {
    lib::log::error("user=%s, %s: %s; pop3login should have switched to the account", user.c_str(), peer.c_str(),
                    not_root.error().message.c_str());
    write_line(pop3d::reply::account_unusable);
    return 1;
  }
  // pop3login checks these too; pop3d may also be started by other means.
  if (pop3d::account_option_set(settings.options, "disablepop3")) {
    lib::log::info("LOGIN REFUSED, user=%s, %s, reason=disablepop3", user.c_str(), peer.c_str());
    write_line(pop3d::reply::pop3_disabled);
    return 1;
  }
  if (pop3d::account_option_set(settings.options, "disableinsecurepop3") && !settings.tls_active) {
    lib::log::info("LOGIN REFUSED, user=%s, %s, reason=disableinsecurepop3", user.c_str(), peer.c_str());
    write_line(pop3d::reply::insecure_disabled);
    return 1;
  }
  // Courier: the sticky bit on the home directory locks the account (an
  // admin moving the mailbox).
  struct stat home;
  if (::stat(".", &home) != 0 || (home.st_mode & S_ISVTX)) {
    lib::log::info("LOCKED, user=%s, %s", user.c_str(), peer.c_str());
    write_line(pop3d::reply::maildir_locked);
    return 0;
  }
  if (::chdir(settings.maildir.c_str()) != 0) {
    int err = errno;
    char cwd[4096] = "?";
    if (!::getcwd(cwd, sizeof cwd)) cwd[0] = '?';
    lib::log::error("user=%s: cannot enter the Maildir %s (from %s): %s; create it with maildirmake, owned "
                    "by the account",
                    user.c_str(), settings.maildir.c_str(), cwd, lib::errno_text(err).c_str());
    write_line(pop3d::reply::maildir_unusable);
    return 1;
  }
  run_loginexec(user);

  pop3d::OpenReport report;
  auto mailbox = pop3d::Mailbox::open(".", report);
  for (const auto& w : report.warnings) lib::log::warning("user=%s: %s", user.c_str(), w.c_str());
  if (!mailbox) {
    lib::log::error("user=%s: %s", user.c_str(), mailbox.error().message.c_str());
    write_line(pop3d::reply::maildir_unusable);
    return 1;
  }
  lib::log::info("LOGIN, user=%s, %s, method=%s, messages=%zu%s", user.c_str(), peer.c_str(),
                 settings.login_method.empty() ? "?" : settings.login_method.c_str(), mailbox->count(),
                 settings.tls_active ? ", stls=1" : "");

  // Replies go out whole and at once (session.cpp); no Nagle delay for them.
  int one = 1;
  (void)::setsockopt(1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  pop3d::SessionOptions options;
  options.idle_timeout = settings.idle_timeout;
  options.log_deletions = settings.log_deletions;
  options.user = user;
  options.remote_ip = settings.peer.remote_ip;
  options.pipelined_input = std::move(settings.pipelined_input);
  pop3d::Session session(*mailbox, std::move(options), 0, 1);
  pop3d::SessionEnd end = session.run();

  const auto& s = session.stats();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
  std::string end_text(pop3d::session_end_text(end));
  // One line per session: Courier's fields, then what was deleted.
  lib::log::info("%s, user=%s, %s, top=%llu, retr=%llu, retr_bytes=%llu, deleted=%llu, deleted_bytes=%llu, "
                 "rcvd=%llu, sent=%llu, time=%lld%s",
                 end_text.c_str(), user.c_str(), peer.c_str(), static_cast<unsigned long long>(s.top),
                 static_cast<unsigned long long>(s.retr), static_cast<unsigned long long>(s.retr_bytes),
                 static_cast<unsigned long long>(s.dele), static_cast<unsigned long long>(s.dele_bytes),
                 static_cast<unsigned long long>(s.rcvd), static_cast<unsigned long long>(s.sent),
                 static_cast<long long>(seconds.count()), settings.tls_active ? ", stls=1" : "");
  return 0;
}
