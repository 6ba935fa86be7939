// tls/starttls.cpp: see starttls.hpp.
#include "tls/starttls.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "lib/log.hpp"
#include "lib/privileges.hpp"
#include "lib/unique_fd.hpp"
#include "tls/tls_variables.hpp"

#ifndef BINDIR
#define BINDIR "/usr/bin"
#endif

namespace tls {

namespace {

constexpr size_t max_report_bytes = 64 * 1024;

void clear_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
}

}  // namespace

lib::Result<SpawnedTls> spawn_couriertls(int socket_fd, const StartTlsOptions& options) {
  std::string program = options.couriertls;
  if (program.empty()) {
    const char* env = std::getenv("COURIERTLS");
    program = env && *env ? env : BINDIR "/couriertls";
  }
  int sp[2], status[2], env[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
    return lib::temporary_error("STARTTLS: socketpair: " + lib::errno_text(errno));
  }
  lib::UniqueFd plain(sp[0]), local(sp[1]);
  if (pipe2(status, O_CLOEXEC) != 0) return lib::temporary_error("STARTTLS: pipe: " + lib::errno_text(errno));
  lib::UniqueFd status_read(status[0]), status_write(status[1]);
  if (pipe2(env, O_CLOEXEC) != 0) return lib::temporary_error("STARTTLS: pipe: " + lib::errno_text(errno));
  lib::UniqueFd env_read(env[0]), env_write(env[1]);

  std::string a_remote = "-remotefd=" + std::to_string(socket_fd);
  std::string a_local = "-localfd=" + std::to_string(local.get());
  std::string a_status = "-statusfd=" + std::to_string(status_write.get());
  std::string a_env = "-envfd=" + std::to_string(env_write.get());
  std::string a_user = "-user=" + (options.user.empty() ? lib::mail_user_name() : options.user);
  std::vector<char*> argv = {const_cast<char*>(program.c_str()), const_cast<char*>("-server"), a_remote.data(),
                             a_local.data(), a_status.data(), a_env.data()};
  if (::geteuid() == 0) argv.push_back(a_user.data());
  argv.push_back(nullptr);

  // Made before fork: the child only calls async-signal-safe functions.
  const std::string exec_failed = "cannot run " + program +
                                  " (set COURIERTLS in the service's configuration to couriertls's path)\n";
  pid_t pid = fork();
  if (pid < 0) return lib::temporary_error("STARTTLS: fork: " + lib::errno_text(errno));
  if (pid == 0) {
    // Detach: the grandchild is reparented to init, so the caller (later
    // imapd, after exec) never has to reap it.
    pid_t grandchild = fork();
    if (grandchild != 0) _exit(grandchild < 0 ? 1 : 0);
    clear_cloexec(socket_fd);
    clear_cloexec(local.get());
    clear_cloexec(status_write.get());
    clear_cloexec(env_write.get());
    execv(argv[0], argv.data());
    ssize_t ignored = ::write(status_write.get(), exec_failed.data(), exec_failed.size());
    (void)ignored;
    _exit(127);
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return lib::temporary_error("STARTTLS: cannot start couriertls (fork failed)");
  }
  SpawnedTls spawned;
  spawned.plain = plain.release();
  spawned.status = status_read.release();
  spawned.env = env_read.release();
  return spawned;
}

lib::Result<std::vector<lib::UniqueFd>> spawn_couriertls_fds(int socket_fd) {
  auto spawned = spawn_couriertls(socket_fd);
  if (!spawned) {
    lib::log::error("%s", spawned.error().message.c_str());
    return spawned.error();
  }
  std::vector<lib::UniqueFd> fds;
  for (int fd : {spawned->plain, spawned->status, spawned->env}) fds.emplace_back(fd);
  return fds;
}

std::function<lib::Result<SpawnedTls>(int socket_fd)> spawn_via(FetchTlsFds fetch) {
  return [fetch = std::move(fetch)](int socket_fd) -> lib::Result<SpawnedTls> {
    auto fds = fetch(socket_fd);
    if (!fds) return fds.error();
    if (fds->size() != 3) return lib::temporary_error("STARTTLS: couriertls's descriptors are missing");
    return SpawnedTls{(*fds)[0].release(), (*fds)[1].release(), (*fds)[2].release()};
  };
}

lib::Result<int> start_tls(int socket_fd, const StartTlsOptions& options, StartTlsInfo* info) {
  auto spawned = options.spawn ? options.spawn(socket_fd) : spawn_couriertls(socket_fd, options);
  if (!spawned) return spawned.error();
  lib::UniqueFd plain(spawned->plain), status_read(spawned->status), env_read(spawned->env);

  // Both reports end with EOF: -envfd after the handshake, -statusfd after it
  // (empty: success) or with one line of error text.
  std::string status_text, env_text;
  bool status_open = true, env_open = true;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  while (status_open || env_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return lib::permanent_error("STARTTLS: the TLS handshake timed out");
    struct pollfd fds[2];
    int n = 0;
    if (status_open) fds[n++] = {status_read.get(), POLLIN, 0};
    if (env_open) fds[n++] = {env_read.get(), POLLIN, 0};
    int rc = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return lib::temporary_error("STARTTLS: poll: " + lib::errno_text(errno));
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      bool is_status = fds[i].fd == status_read.get();
      std::string& text = is_status ? status_text : env_text;
      char buf[4096];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        (is_status ? status_open : env_open) = false;
        continue;
      }
      text.append(buf, static_cast<size_t>(got));
      if (text.size() > max_report_bytes) return lib::permanent_error("STARTTLS: couriertls sent too much");
    }
  }
  if (!status_text.empty()) {
    while (!status_text.empty() && (status_text.back() == '\n' || status_text.back() == '\r')) status_text.pop_back();
    return lib::permanent_error("STARTTLS: " + status_text);
  }
  if (env_text.empty()) return lib::permanent_error("STARTTLS: couriertls ended without a TLS session");

  StartTlsInfo got;
  size_t pos = 0;
  while (pos < env_text.size()) {
    size_t eol = env_text.find('\n', pos);
    if (eol == std::string::npos) break;
    std::string line = env_text.substr(pos, eol - pos);
    pos = eol + 1;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string name = line.substr(0, eq), value = line.substr(eq + 1);
    if (!acceptable_tls_variable(name, value)) continue;
    got.environment.emplace_back(std::move(name), std::move(value));
  }
  if (options.set_environment) {
    // The session's subject replaces whatever the environment held before.
    std::vector<std::string> stale;
    for (char** e = environ; *e; ++e) {
      std::string_view var(*e);
      if (var.rfind("TLS_SUBJECT_", 0) == 0) stale.emplace_back(var.substr(0, var.find('=')));
    }
    for (const auto& name : stale) unsetenv(name.c_str());
    for (const auto& [name, value] : got.environment) setenv(name.c_str(), value.c_str(), 1);
  }
  if (info) *info = std::move(got);
  clear_cloexec(plain.get());
  return plain.release();
}

}  // namespace tls
