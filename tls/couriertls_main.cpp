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
#include "tls/couriertls_serve.hpp"
#include "tls/relay.hpp"
#include "tls/session.hpp"
#include "tls/settings.hpp"

namespace {

using tls::write_all;

constexpr size_t max_protocol_line_bytes = 8192;

std::string g_ip_prefix;  // "ip=[1.2.3.4] " on every line, as Courier's ssl_errmsg does

int fail(const tls::CouriertlsOptions& o, const std::string& message, bool admin_error) {
  return tls::report_failure(o, g_ip_prefix, message, admin_error);
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
  g_ip_prefix = tls::log_prefix(*settings);
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

  return tls::serve_connection(o, *settings, *context, remote_fd, std::move(owned_remote));
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
