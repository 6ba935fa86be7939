// tls/couriertls_main.cpp: couriertls, the TLS wrapper that implicit-TLS
// ports and STARTTLS run (couriertls(8); COURIER-COMPAT.md section 6).
//
//   couriertcpd ... couriertls -server -tcpd imaplogin imapd Maildir
//     the TLS socket is on fds 0/1; imaplogin gets a plaintext socketpair on
//     its fds 0/1 and, in its environment, TLS_CONNECTED_PROTOCOL and (for a
//     verified client certificate) TLS_SUBJECT_*.
//   couriertls -server -remotefd=n -localfd=m [-statusfd=s] [-envfd=e]
//     STARTTLS from a running service (tls::start_tls).
//   couriertls -host=h -port=p [-protocol=imap] [-verify=h]
//     a debug client on stdin/stdout.
//
// Process layout with a program: couriertls loads the settings and every
// certificate file first (as root, so keys may stay mode 600 root), then
// forks the program, which waits on a pipe; couriertls drops to -user=name
// if given, runs the handshake with the client, sends the program the TLS_*
// variables through the pipe (nothing, if the handshake failed: the program
// then exits without running), and relays until both sides are done. So the
// program keeps our privileges (imaplogin must start as root) while the code
// that parses the client's TLS input can run as an unprivileged user.
//
// SECURITY: reads untrusted TLS input from the network; the handshake has a
// deadline (TLS_HANDSHAKE_TIMEOUT, 60 s) and all buffers are bounded.
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "lib/c_handle.hpp"
#include "lib/log.hpp"
#include "lib/privileges.hpp"
#include "lib/unique_fd.hpp"
#include "tls/context.hpp"
#include "tls/couriertls_options.hpp"
#include "tls/relay.hpp"
#include "tls/session.hpp"
#include "tls/settings.hpp"

namespace {

constexpr size_t max_env_block_bytes = 64 * 1024;
constexpr size_t max_protocol_line_bytes = 8192;

std::string g_ip_prefix;  // "ip=[1.2.3.4] " on every line, as Courier's ssl_errmsg does

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Reports a failure: to the log, and as the single line of -statusfd.
int fail(const tls::CouriertlsOptions& o, const std::string& message, bool admin_error) {
  if (admin_error) lib::log::error("%s%s", g_ip_prefix.c_str(), message.c_str());
  else lib::log::warning("%s%s", g_ip_prefix.c_str(), message.c_str());
  if (o.status_fd >= 0) {
    write_all(o.status_fd, message + "\n");
    ::close(o.status_fd);
  }
  return 1;
}

lib::Result<void> drop_to_user(const std::string& name) {
  auto who = lib::resolve_identity(name, "");
  if (!who) return who.error();
  return lib::drop_privileges(*who);
}

// The program side of the pre-forked child: waits for "GO\n" + NAME=value lines,
// then execs. EOF without GO means the handshake failed: exit quietly.
[[noreturn]] void run_program(const std::vector<std::string>& program, int env_pipe, int plain_fd) {
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
  lib::log::error("%scannot run %s: %s", g_ip_prefix.c_str(), program[0].c_str(), lib::errno_text(errno).c_str());
  _exit(127);
}

std::string env_block(const std::vector<std::pair<std::string, std::string>>& env) {
  std::string out;
  for (const auto& [name, value] : env) out += name + "=" + value + "\n";
  return out;
}

lib::Result<int> connect_to(const std::string& host, const std::string& port) {
  struct addrinfo hints {};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  struct addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) return lib::permanent_error(host + ":" + port + ": " + gai_strerror(rc));
  lib::CHandle<addrinfo, freeaddrinfo> res(found);
  std::string last = "no address";
  for (auto* ai = res.get(); ai; ai = ai->ai_next) {
    lib::UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) continue;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) return fd.release();
    last = lib::errno_text(errno);
  }
  return lib::permanent_error("connect to " + host + " port " + port + ": " + last);
}

// The plaintext part of the debug client: read lines until one satisfies done.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  lib::Result<std::string> line() {
    for (;;) {
      size_t eol = buf_.find('\n');
      if (eol != std::string::npos) {
        std::string out = buf_.substr(0, eol);
        buf_.erase(0, eol + 1);
        if (!out.empty() && out.back() == '\r') out.pop_back();
        std::string shown = out + "\n";
        write_all(1, shown);
        return out;
      }
      if (buf_.size() > max_protocol_line_bytes) return lib::permanent_error("the server sent an overlong line");
      struct pollfd p = {fd_, POLLIN, 0};
      int n = ::poll(&p, 1, 60000);
      if (n == 0) return lib::permanent_error("the server did not answer within 60 s");
      if (n < 0 && errno == EINTR) continue;
      char chunk[1024];
      ssize_t got = ::read(fd_, chunk, sizeof chunk);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return lib::permanent_error("the server closed the connection");
      buf_.append(chunk, static_cast<size_t>(got));
    }
  }

 private:
  int fd_;
  std::string buf_;
};

lib::Result<void> starttls_dance(int fd, tls::StartProtocol protocol) {
  LineReader reader(fd);
  auto smtp_reply = [&]() -> lib::Result<void> {
    for (;;) {
      auto line = reader.line();
      if (!line) return line.error();
      if (line->size() >= 3 && (line->size() == 3 || (*line)[3] == ' ')) {
        if ((*line)[0] > '3') return lib::permanent_error("the server refused: " + *line);
        return {};
      }
    }
  };
  auto imap_tagged = [&](std::string_view tag) -> lib::Result<void> {
    for (;;) {
      auto line = reader.line();
      if (!line) return line.error();
      std::string_view l = *line;
      if (l.substr(0, tag.size()) != tag) continue;
      l.remove_prefix(tag.size());
      if (l.substr(0, 2) == "OK") return {};
      return lib::permanent_error("the server refused: " + *line);
    }
  };
  switch (protocol) {
    case tls::StartProtocol::none: return {};
    case tls::StartProtocol::smtp: {
      auto ok = smtp_reply();
      if (!ok) return ok;
      char host[256] = "localhost";
      gethostname(host, sizeof host - 1);
      write_all(fd, std::string("EHLO ") + host + "\r\n");
      if (!(ok = smtp_reply())) return ok;
      write_all(fd, "STARTTLS\r\n");
      return smtp_reply();
    }
    case tls::StartProtocol::imap: {
      auto ok = imap_tagged("* ");
      if (!ok) return ok;
      write_all(fd, "x STARTTLS\r\n");
      return imap_tagged("x ");
    }
    case tls::StartProtocol::pop3: {
      auto greeting = reader.line();
      if (!greeting) return greeting.error();
      write_all(fd, "STLS\r\n");
      auto reply = reader.line();
      if (!reply) return reply.error();
      if (reply->rfind("+OK", 0) != 0) return lib::permanent_error("the server refused: " + *reply);
      return {};
    }
  }
  return {};
}

// -check: what the first connection would find wrong with the TLS files
// (certificate, key, DH parameters), said now; exit 1 with it.
int check_files(const tls::Settings& settings, bool server) {
  tls::ContextOptions ctx_options;
  ctx_options.role = server ? tls::Role::server : tls::Role::client;
  auto context = tls::Context::create(settings, ctx_options);
  if (!context) {
    lib::log::error("%s", context.error().message.c_str());
    return 1;
  }
  for (const auto& warning : context->warnings()) lib::log::warning("%s", warning.c_str());
  return 0;
}

int run(int argc, char** argv) {
  lib::log::Options log_options;
  log_options.target = lib::log::Target::stderr;
  lib::log::open("couriertls", log_options);
  if (lib::log::debug_switch("DEBUG_TLS") >= 1) lib::log::set_min_level(lib::log::Level::debug);
  signal(SIGPIPE, SIG_IGN);

  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = tls::parse_couriertls_args(args);
  if (!parsed) {
    lib::log::error("%s", parsed.error().message.c_str());
    return 1;
  }
  const tls::CouriertlsOptions& o = *parsed;
  for (int fd : {o.status_fd, o.printx509_fd, o.env_fd}) {
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);  // never leaks into the program
  }

  auto settings = tls::parse_settings(tls::process_environment());
  if (!settings) return fail(o, settings.error().message, true);
  if (!settings->remote_ip.empty()) g_ip_prefix = "ip=[" + settings->remote_ip + "] ";
  if (o.check) return check_files(*settings, o.server);

  int remote_fd = o.remote_fd;
  lib::UniqueFd owned_remote;
  if (o.tcpd) {
    remote_fd = 0;
    dup2(2, 1);  // Courier: fd 1 becomes stderr, the socket stays on fd 0
  }

  tls::ContextOptions ctx_options;
  ctx_options.role = o.server ? tls::Role::server : tls::Role::client;
  ctx_options.verify_domain = o.verify_domain;
  ctx_options.servername = o.host;
  auto context = tls::Context::create(*settings, ctx_options);
  if (!context) return fail(o, context.error().message, true);
  for (const auto& warning : context->warnings()) lib::log::warning("%s", warning.c_str());

  if (!o.host.empty()) {
    auto fd = connect_to(o.host, o.port);
    if (!fd) return fail(o, fd.error().message, false);
    owned_remote.reset(*fd);
    remote_fd = *fd;
    auto dance = starttls_dance(remote_fd, o.protocol);
    if (!dance) return fail(o, dance.error().message, false);
  }

  // The program (if any) is forked now, before privileges are dropped.
  lib::UniqueFd plain, env_write;
  pid_t child = -1;
  if (!o.program.empty()) {
    int sp[2], ep[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
      return fail(o, "socketpair: " + lib::errno_text(errno), true);
    plain.reset(sp[0]);
    lib::UniqueFd program_plain(sp[1]);
    if (pipe2(ep, O_CLOEXEC) != 0) return fail(o, "pipe: " + lib::errno_text(errno), true);
    lib::UniqueFd program_env(ep[0]);
    env_write.reset(ep[1]);
    child = fork();
    if (child < 0) return fail(o, "fork: " + lib::errno_text(errno), true);
    if (child == 0) {
      plain.reset();
      env_write.reset();
      owned_remote.reset();
      if (remote_fd > 2) ::close(remote_fd);  // a -remotefd=n descriptor we were given
      run_program(o.program, program_env.release(), program_plain.release());
    }
    // The parent's copies of the program's ends close here.
  }

  // TLS never runs as root (DESIGN.md, Privileges): without -user, root
  // becomes the mail user (MAILUSER, else configure's default).
  if (!o.user.empty()) {
    auto dropped = drop_to_user(o.user);
    if (!dropped) return fail(o, dropped.error().message, true);
  } else if (::geteuid() == 0) {
    auto mail_user = lib::mail_user();
    if (!mail_user) return fail(o, mail_user.error().message, true);
    auto dropped = lib::drop_privileges(*mail_user);
    if (!dropped) return fail(o, dropped.error().message, true);
  }

  auto ssl = context->new_connection(remote_fd);
  if (!ssl) return fail(o, ssl.error().message, true);
  if (auto nb = tls::set_nonblocking(remote_fd); !nb) return fail(o, nb.error().message, true);
  auto deadline = std::chrono::steady_clock::now() + settings->handshake_timeout;
  auto done = tls::handshake(ssl->get(), remote_fd, deadline);
  if (!done) {
    env_write.reset();  // the program exits without running
    plain.reset();
    if (child > 0) waitpid(child, nullptr, 0);
    return fail(o, "TLS handshake failed: " + done.error().message, false);
  }

  tls::ConnectionInfo info = tls::connection_info(ssl->get());
  auto env = tls::tls_environment(info);
  lib::log::debug("%sTLS %s%s%s%s", g_ip_prefix.c_str(), info.protocol_description().c_str(),
                  info.resumed ? " resumed" : "", info.servername.empty() ? "" : " sni=",
                  info.servername.c_str());
  if (o.printx509_fd >= 0) {
    write_all(o.printx509_fd, tls::x509_dump(ssl->get(), o.server));
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
  tls::RelayOptions relay_options;
  // The debug client's stdin ends before the server has answered.
  relay_options.read_after_plain_eof = !o.server && !plain && o.local_fd < 0;
  auto relayed = tls::relay(ssl->get(), remote_fd, plain_in, plain_out, relay_options);
  if (!relayed) {
    lib::log::debug("%sconnection ended: %s", g_ip_prefix.c_str(), relayed.error().message.c_str());
  } else {
    lib::log::debug("%sconnection ended: %s (%llu bytes in, %llu out)", g_ip_prefix.c_str(),
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

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    lib::log::critical("couriertls: %s", e.what());
    return 1;
  }
}
