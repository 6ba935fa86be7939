// tls/couriertls_serve.cpp: see couriertls_serve.hpp.
//
// SECURITY: reads untrusted TLS input from the network, after dropping to
// -user or the mail user; the handshake has a deadline (TLS_HANDSHAKE_TIMEOUT)
// and all buffers are bounded.
#include "tls/couriertls_serve.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "lib/log.hpp"
#include "lib/privileges.hpp"
#include "tls/relay.hpp"
#include "tls/session.hpp"

namespace tls {

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

namespace {

constexpr size_t max_env_block_bytes = 64 * 1024;

lib::Result<void> drop_to_user(const std::string& name) {
  auto who = lib::resolve_identity(name, "");
  if (!who) return who.error();
  return lib::drop_privileges(*who);
}

// The program side of the pre-forked child: waits for "GO\n" + NAME=value lines,
// then execs. EOF without GO means the handshake failed: exit quietly.
[[noreturn]] void run_program(const std::vector<std::string>& program, int env_pipe, int plain_fd,
                              const std::string& prefix) {
  std::string block;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(env_pipe, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    block.append(buf, static_cast<size_t>(n));
    if (block.size() > max_env_block_bytes) _exit(1);
  }
  ::close(env_pipe);
  if (block.rfind("GO\n", 0) != 0) _exit(0);
  // Nothing inherited may pose as a certificate the client did not present.
  std::vector<std::string> stale;
  for (char** e = environ; *e; ++e) {
    std::string_view var(*e);
    if (var.rfind("TLS_SUBJECT_", 0) == 0 || var.rfind("TLS_CONNECTED_PROTOCOL=", 0) == 0) {
      stale.emplace_back(var.substr(0, var.find('=')));
    }
  }
  for (const auto& name : stale) unsetenv(name.c_str());
  size_t pos = 3;
  while (pos < block.size()) {
    size_t eol = block.find('\n', pos);
    if (eol == std::string::npos) break;
    std::string line = block.substr(pos, eol - pos);
    pos = eol + 1;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    setenv(line.substr(0, eq).c_str(), line.substr(eq + 1).c_str(), 1);
  }
  if (dup2(plain_fd, 0) < 0 || dup2(plain_fd, 1) < 0) _exit(1);
  if (plain_fd > 2) ::close(plain_fd);
  std::vector<char*> argv;
  for (const auto& arg : program) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  signal(SIGPIPE, SIG_DFL);
  execvp(argv[0], argv.data());
  lib::log::error("%scannot run %s: %s", prefix.c_str(), program[0].c_str(), lib::errno_text(errno).c_str());
  _exit(127);
}

std::string env_block(const std::vector<std::pair<std::string, std::string>>& env) {
  std::string out;
  for (const auto& [name, value] : env) out += name + "=" + value + "\n";
  return out;
}

}  // namespace

std::string log_prefix(const Settings& settings) {
  return settings.remote_ip.empty() ? std::string() : "ip=[" + settings.remote_ip + "] ";
}

int report_failure(const CouriertlsOptions& o, const std::string& prefix, const std::string& message,
                   bool admin_error) {
  if (admin_error) lib::log::error("%s%s", prefix.c_str(), message.c_str());
  else lib::log::warning("%s%s", prefix.c_str(), message.c_str());
  if (o.status_fd >= 0) {
    write_all(o.status_fd, message + "\n");
    ::close(o.status_fd);
  }
  return 1;
}

int serve_connection(const CouriertlsOptions& o, const Settings& settings, const Context& context,
                     int remote_fd, lib::UniqueFd owned_remote, const lib::Identity* run_as) {
  const std::string prefix = log_prefix(settings);
  // The program (if any) is forked now, before privileges are dropped.
  lib::UniqueFd plain, env_write;
  pid_t child = -1;
  if (!o.program.empty()) {
    int sp[2], ep[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
      return report_failure(o, prefix, "socketpair: " + lib::errno_text(errno), true);
    plain.reset(sp[0]);
    lib::UniqueFd program_plain(sp[1]);
    if (pipe2(ep, O_CLOEXEC) != 0) return report_failure(o, prefix, "pipe: " + lib::errno_text(errno), true);
    lib::UniqueFd program_env(ep[0]);
    env_write.reset(ep[1]);
    child = fork();
    if (child < 0) return report_failure(o, prefix, "fork: " + lib::errno_text(errno), true);
    if (child == 0) {
      plain.reset();
      env_write.reset();
      owned_remote.reset();
      if (remote_fd > 2) ::close(remote_fd);  // a -remotefd=n descriptor we were given
      run_program(o.program, program_env.release(), program_plain.release(), prefix);
    }
    // The parent's copies of the program's ends close here.
  }

  // TLS never runs as root (DESIGN.md, Privileges): without -user, root
  // becomes the mail user (MAILUSER, else configure's default).
  if (run_as && (!o.user.empty() || ::geteuid() == 0)) {
    auto dropped = lib::drop_privileges(*run_as);
    if (!dropped) return report_failure(o, prefix, dropped.error().message, true);
  } else if (!o.user.empty()) {
    auto dropped = drop_to_user(o.user);
    if (!dropped) return report_failure(o, prefix, dropped.error().message, true);
  } else if (::geteuid() == 0) {
    auto mail_user = lib::mail_user();
    if (!mail_user) return report_failure(o, prefix, mail_user.error().message, true);
    auto dropped = lib::drop_privileges(*mail_user);
    if (!dropped) return report_failure(o, prefix, dropped.error().message, true);
  }

  auto ssl = context.new_connection(remote_fd);
  if (!ssl) return report_failure(o, prefix, ssl.error().message, true);
  if (auto nb = set_nonblocking(remote_fd); !nb) return report_failure(o, prefix, nb.error().message, true);
  auto deadline = std::chrono::steady_clock::now() + settings.handshake_timeout;
  auto done = handshake(ssl->get(), remote_fd, deadline);
  if (!done) {
    env_write.reset();  // the program exits without running
    plain.reset();
    if (child > 0) waitpid(child, nullptr, 0);
    return report_failure(o, prefix, "TLS handshake failed: " + done.error().message, false);
  }

  ConnectionInfo info = connection_info(ssl->get());
  auto env = tls_environment(info);
  lib::log::debug("%sTLS %s%s%s%s", prefix.c_str(), info.protocol_description().c_str(),
                  info.resumed ? " resumed" : "", info.servername.empty() ? "" : " sni=",
                  info.servername.c_str());
  if (o.printx509_fd >= 0) {
    write_all(o.printx509_fd, x509_dump(ssl->get(), o.server));
    ::close(o.printx509_fd);
  }
  if (o.env_fd >= 0) {
    write_all(o.env_fd, env_block(env));
    ::close(o.env_fd);
  }
  if (o.status_fd >= 0) ::close(o.status_fd);  // EOF without text: success
  setenv("TLS_CONNECTED_PROTOCOL", info.protocol_description().c_str(), 1);

  if (env_write) {
    write_all(env_write.get(), "GO\n" + env_block(env));
    env_write.reset();
  }

  int plain_in = 0, plain_out = 1;
  if (plain) plain_in = plain_out = plain.get();
  else if (o.local_fd >= 0) plain_in = plain_out = o.local_fd;
  RelayOptions relay_options;
  // The debug client's stdin ends before the server has answered.
  relay_options.read_after_plain_eof = !o.server && !plain && o.local_fd < 0;
  auto relayed = relay(ssl->get(), remote_fd, plain_in, plain_out, relay_options);
  if (!relayed) {
    lib::log::debug("%sconnection ended: %s", prefix.c_str(), relayed.error().message.c_str());
  } else {
    lib::log::debug("%sconnection ended: %s (%llu bytes in, %llu out)", prefix.c_str(),
                    relayed->end.c_str(), static_cast<unsigned long long>(relayed->bytes_from_tls),
                    static_cast<unsigned long long>(relayed->bytes_to_tls));
  }
  ssl->reset();
  plain.reset();
  if (owned_remote) owned_remote.reset();
  else ::close(remote_fd);  // the connection we were given (-tcpd: fd 0, -remotefd=n)
  if (child > 0) {
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  }
  return 0;
}


}  // namespace tls
