// tcpd/couriertcpd_main.cpp: couriertcpd, the TCP server daemon every service
// of the suite runs behind (couriertcpd(8)).
//
// SECURITY: started as root to bind privileged ports. With -user / -group
// (esmtpd's start script passes them) it drops to them right after binding
// and locking its pid file, before it accepts anything. Without them (imapd
// and pop3d: imaplogin and pop3login must start as root) the daemon stays
// root but parses nothing from the network: the PROXY header, DNS replies
// and ident replies are parsed by a per-connection lookup helper running as
// the mail user (MAILUSER; tcpd/lookup_helper.hpp), and the daemon reads
// only that helper's small fixed result (tcpd/lookup_result.hpp). The
// program it runs gets the socket on fd 0 and 1.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "lib/log.hpp"
#include "lib/privileges.hpp"
#include "tcpd/options.hpp"
#include "tcpd/pidfile.hpp"
#include "tcpd/server.hpp"
#include "tcpd/tls_inprocess.hpp"

extern char** environ;

namespace {

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "couriertcpd: %s\n", message.c_str());
  std::exit(1);
}

// The program as a path: names without a slash are looked up in PATH once,
// here, so that a typo fails at start-up and not on every connection.
lib::Result<std::string> resolve_program(const std::string& program) {
  auto executable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (program.find('/') != std::string::npos) {
    if (executable(program)) return program;
    int err = errno;
    return lib::permanent_error("program " + program + " cannot be run: " +
                                (err ? lib::errno_text(err) : std::string("not a regular executable file")));
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    start = colon == std::string::npos ? dirs.size() + 1 : colon + 1;
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (executable(candidate)) return candidate;
  }
  return lib::permanent_error("program " + program + " was not found in PATH; give its full path");
}

// -group and -user (Courier: -user also sets the user's group unless -group
// is given). As an ordinary user there is nothing to drop: a -user naming
// someone else is ignored with a warning, so the same start script works in
// a sandbox.
lib::Result<void> drop_privileges(const std::string& user, const std::string& group) {
  if (user.empty() && group.empty()) return {};
  auto who = lib::resolve_identity(user, group);
  if (!who) return who.error();
  return lib::drop_privileges(*who, lib::NotRoot::keep_going);
}

int run_command(const tcpd::Options& opts) {
  if (opts.command == tcpd::Command::restart) {
    auto r = tcpd::signal_daemon(opts.pid_file, SIGHUP);
    if (!r) die(r.error().message);
    if (!*r) std::fprintf(stderr, "couriertcpd: not running (no lock on %s)\n", opts.pid_file.c_str());
    return 0;
  }
  auto r = tcpd::stop_daemon(opts.pid_file, opts.stop_grace + std::chrono::seconds(10));
  if (!r) die(r.error().message);
  if (!*r) std::fprintf(stderr, "couriertcpd: not running (no lock on %s)\n", opts.pid_file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  lib::log::Options log_opts;
  log_opts.target = lib::log::Target::stderr;
  lib::log::open("couriertcpd", log_opts);

  std::vector<std::string> args(argv, argv + argc);
  auto parsed = tcpd::parse_options(args);
  if (!parsed) {
    std::fprintf(stderr, "couriertcpd: %s\n%s", parsed.error().message.c_str(), tcpd::usage_text(args[0]).c_str());
    return 1;
  }
  tcpd::Options opts = std::move(*parsed);
  if (opts.command != tcpd::Command::run) return run_command(opts);

  auto program = resolve_program(opts.program);
  if (!program) die(program.error().message);

  // With -pid, run in the background. The parent waits until the daemon is
  // listening (or has failed, having said why on stderr) so that a start
  // script's exit status is true.
  int ready_fd = -1;
  if (!opts.pid_file.empty()) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) die("pipe: " + lib::errno_text(errno));
    pid_t pid = ::fork();
    if (pid < 0) die("fork: " + lib::errno_text(errno));
    if (pid > 0) {
      ::close(fds[1]);
      char c = 0;
      ssize_t n;
      do n = ::read(fds[0], &c, 1);
      while (n < 0 && errno == EINTR);
      if (n == 1 && c == 'R') return 0;
      int status = 0;
      ::waitpid(pid, &status, 0);
      return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1;
    }
    ::close(fds[0]);
    ready_fd = fds[1];
    ::setsid();
  }

  std::optional<tcpd::PidFile> pid_file;
  if (!opts.pid_file.empty()) {
    auto p = tcpd::PidFile::acquire(opts.pid_file);
    if (!p) die(p.error().message);
    pid_file.emplace(std::move(*p));
  }
  auto listeners = tcpd::bind_listeners(opts);
  if (!listeners) die(listeners.error().message);
  // couriertls's context, built before -user as couriertls reads its files before dropping.
  std::string tls_problem;
  auto inprocess_tls = tcpd::InProcessTls::prepare(*program, opts.program_args, tcpd::inherited_environment(environ),
                                                   &tls_problem);
  if (auto r = drop_privileges(opts.user, opts.group); !r) die(r.error().message);

  auto server = tcpd::Server::create(opts, *program, std::move(*listeners), tcpd::inherited_environment(environ));
  if (!server) die(server.error().message);
  if (inprocess_tls) {
    (*server)->spawn_hook = [&inprocess_tls](int fd, const tcpd::EnvVars& vars, bool stderr_to_socket) {
      return inprocess_tls->spawn(fd, vars, stderr_to_socket);
    };
  }
  // Courier sends its own messages there too, not only the children's.
  if (opts.stderr_mode == tcpd::StderrMode::file) {
    int fd = ::open(opts.stderr_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0660);
    if (fd < 0) die("-stderr=" + opts.stderr_file + ": cannot open: " + lib::errno_text(errno));
    ::dup2(fd, 2);
    ::close(fd);
  }
  if (!tls_problem.empty())
    lib::log::error("%s (each connection runs couriertls, which says so too, until the files are fixed)",
                    tls_problem.c_str());
  if (pid_file)
    if (auto r = pid_file->write_pid(::getpid()); !r) die(r.error().message);

  if (ready_fd >= 0) {
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
      ::dup2(null_fd, 0);
      ::dup2(null_fd, 1);
      ::close(null_fd);
    }
    (void)!::write(ready_fd, "R", 1);
    ::close(ready_fd);
  }
  int rc = (*server)->run();
  server->reset();
  if (pid_file) pid_file->remove();
  return rc;
}
