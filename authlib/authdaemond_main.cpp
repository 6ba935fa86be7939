// authlib/authdaemond_main.cpp: authdaemond [-c authdaemonrc] start|stop|restart|reload|status|foreground
//
// SECURITY: started as root (authshadow and authpam need it); see daemon.hpp.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "authlib/daemon.hpp"
#include "build-config.h"
#include "lib/log.hpp"

namespace {

constexpr int ex_usage = 64;
constexpr int ex_config = 78;

int usage() {
  std::fprintf(stderr,
               "usage: authdaemond [-c authdaemonrc] start|stop|restart|reload|status|foreground\n"
               "  start       start in the background (returns when the socket is ready)\n"
               "  stop        stop the running daemon\n"
               "  restart     stop, then start\n"
               "  reload      re-read authdaemonrc and the modules' files (SIGHUP)\n"
               "  status      say whether it runs (exit 0) or not (exit 3)\n"
               "  foreground  run in the foreground (for systemd and tests)\n"
               "default configuration: %s/authdaemonrc\n",
               SYSCONFDIR);
  return ex_usage;
}

// Logging: LOGFILE, else syslog (or stderr in the foreground). The log file
// also becomes stderr, so a worker's last words on a timeout land in it.
void open_log(const authlib::DaemonConfig& config, bool foreground) {
  lib::log::Options o;
  if (!config.log_file.empty()) {
    o.target = lib::log::Target::file;
    o.file_path = config.log_file;
    int fd = ::open(config.log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::close(fd);
    }
  } else {
    o.target = foreground ? lib::log::Target::stderr : lib::log::Target::syslog;
  }
  lib::log::open("authdaemond", o);
  for (const auto& w : config.rc.warnings()) lib::log::warning("%s", w.c_str());
}

int stop(const authlib::DaemonConfig& config) {
  pid_t pid = authlib::running_daemon_pid(config);
  if (pid == 0) {
    std::printf("authdaemond: not running (%s)\n", config.pid_path().c_str());
    return 0;
  }
  if (::kill(pid, SIGTERM) != 0) {
    std::fprintf(stderr, "authdaemond: cannot signal pid %d: %s\n", static_cast<int>(pid), std::strerror(errno));
    return 1;
  }
  for (int i = 0; i < 200 && authlib::running_daemon_pid(config) != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (authlib::running_daemon_pid(config) != 0) {
    std::fprintf(stderr, "authdaemond: pid %d did not stop within 10 s; killing it\n", static_cast<int>(pid));
    ::kill(pid, SIGKILL);
  }
  std::printf("authdaemond: stopped\n");
  return 0;
}

int start(const authlib::DaemonConfig& config) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    std::perror("authdaemond: pipe");
    return 1;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("authdaemond: fork");
    return 1;
  }
  if (pid == 0) {
    ::close(ready[0]);
    ::setsid();
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
    ::umask(022);
    open_log(config, false);
    auto r = authlib::run_daemon(config, ready[1]);
    if (!r) lib::log::error("%s", r.error().message.c_str());
    ::_exit(r ? 0 : 1);
  }
  ::close(ready[1]);
  std::string answer;
  char buf[1024];
  ssize_t n;
  // The daemon writes one line: "ok", or why it could not start.
  while (answer.find('\n') == std::string::npos &&
         ((n = ::read(ready[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
    if (n > 0) answer.append(buf, static_cast<size_t>(n));
  ::close(ready[0]);
  if (answer == "ok\n") {
    std::printf("authdaemond: started, listening on %s\n", config.socket_path().c_str());
    return 0;
  }
  std::fprintf(stderr, "authdaemond: %s", answer.empty() ? "failed to start (see the log)\n" : answer.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string rc_path = SYSCONFDIR "/authdaemonrc";
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (a == "-c" && i + 1 < argc) {
      rc_path = argv[++i];
    } else if (a.starts_with("-c")) {
      rc_path = a.substr(2);
    } else {
      return usage();
    }
  }
  if (i + 1 != argc) return usage();
  std::string command = argv[i];

  auto config = authlib::load_daemon_config(rc_path);
  if (!config) {
    std::fprintf(stderr, "authdaemond: %s\n", config.error().message.c_str());
    return ex_config;
  }
  if (command == "start") {
    for (const auto& w : config->rc.warnings()) std::fprintf(stderr, "authdaemond: WARN: %s\n", w.c_str());
    return start(*config);
  }
  if (command == "stop") return stop(*config);
  if (command == "restart") {
    stop(*config);
    return start(*config);
  }
  if (command == "reload") {
    pid_t pid = authlib::running_daemon_pid(*config);
    if (pid == 0) {
      std::fprintf(stderr, "authdaemond: not running; use authdaemond start\n");
      return 1;
    }
    ::kill(pid, SIGHUP);
    std::printf("authdaemond: pid %d reloads %s\n", static_cast<int>(pid), rc_path.c_str());
    return 0;
  }
  if (command == "status") {
    pid_t pid = authlib::running_daemon_pid(*config);
    if (pid == 0) {
      std::printf("authdaemond: not running\n");
      return 3;
    }
    std::printf("authdaemond: running, pid %d, socket %s\n", static_cast<int>(pid), config->socket_path().c_str());
    return 0;
  }
  if (command == "foreground") {
    open_log(*config, true);
    auto r = authlib::run_daemon(*config, -1);
    if (!r) {
      lib::log::error("%s", r.error().message.c_str());
      std::fprintf(stderr, "authdaemond: %s\n", r.error().message.c_str());
      return 1;
    }
    return 0;
  }
  return usage();
}
