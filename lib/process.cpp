// lib/process.cpp: see process.hpp.
#include "lib/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/unique_fd.hpp"

extern char** environ;

namespace lib {
namespace {

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Builds the child's environment: optionally ours, then the given entries
// replacing same-named ones.
std::vector<std::string> build_env(const SpawnOptions& o) {
  std::vector<std::string> env;
  if (o.inherit_env)
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  for (const auto& entry : o.env) {
    auto name = entry.substr(0, entry.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.compare(0, name.size(), name) == 0; });
    env.push_back(entry);
  }
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// What the child reports through the error pipe: which step failed, and errno.
constexpr int stage_chdir = 1;
constexpr int stage_exec = 2;

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const SpawnOptions& o, char** argv, char** envp, int error_pipe) {
  if (o.new_process_group) ::setpgid(0, 0);
  int devnull = ::open("/dev/null", O_RDWR);
  int want[3] = {o.stdin_fd, o.stdout_fd, o.stderr_fd};
  // Move sources out of 0..2 first so dup2 never clobbers one we still need.
  for (int& fd : want) {
    if (fd < 0) fd = devnull;
    if (fd >= 0 && fd <= 2) fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  }
  for (int i = 0; i < 3; ++i) ::dup2(want[i], i);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) {
    int report[2] = {stage_chdir, errno};
    (void)!::write(error_pipe, report, sizeof report);
    ::_exit(127);
  }
  ::execvpe(argv[0], argv, envp);
  int report[2] = {stage_exec, errno};
  (void)!::write(error_pipe, report, sizeof report);
  ::_exit(127);
}

}  // namespace

std::string ExitStatus::describe() const {
  if (exited) return "exit " + std::to_string(code);
  return "killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
}

ExitStatus exit_status_from_wait(int wstatus) {
  ExitStatus s;
  if (WIFEXITED(wstatus)) {
    s.exited = true;
    s.code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    s.signal = WTERMSIG(wstatus);
  }
  return s;
}

Result<ChildProcess> ChildProcess::spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return permanent_error("spawn: no program given");
  std::vector<std::string> argv_copy = o.argv;
  std::vector<std::string> env = build_env(o);
  auto argv = c_strings(argv_copy);
  auto envp = c_strings(env);

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    return temporary_error("spawn " + o.argv[0] + ": pipe: " + errno_text(errno));
  UniqueFd read_end(pipefd[0]), write_end(pipefd[1]);

  pid_t pid = ::fork();
  if (pid < 0) return temporary_error("spawn " + o.argv[0] + ": fork: " + errno_text(errno));
  if (pid == 0) exec_child(o, argv.data(), envp.data(), write_end.get());
  if (o.new_process_group) ::setpgid(pid, pid);  // also in the parent: no race with kill()
  write_end.reset();

  int report[2] = {0, 0};
  ssize_t n;
  do n = ::read(read_end.get(), report, sizeof report);
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof report)) {
    int ws;
    while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    if (report[0] == stage_chdir)
      return permanent_error("cannot run " + o.argv[0] + ": cannot change to directory " + o.cwd + ": " +
                             errno_text(report[1]));
    return permanent_error("cannot execute " + o.argv[0] + ": " + errno_text(report[1]));
  }
  return ChildProcess(pid, open_pidfd(pid), o.new_process_group);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      group_(other.group_),
      status_(other.status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (running()) {
      kill(SIGKILL);
      wait();
    }
    if (pidfd_ >= 0) ::close(pidfd_);
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    group_ = other.group_;
    status_ = other.status_;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (running()) {
    kill(SIGKILL);
    wait();
  }
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool ChildProcess::reap(bool block) {
  if (status_) return true;
  int ws;
  pid_t r;
  do r = ::waitpid(pid_, &ws, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = exit_status_from_wait(ws);
    return true;
  }
  if (r < 0) {  // ECHILD: someone else reaped it (a SIGCHLD handler); report it as lost
    status_ = ExitStatus{false, 0, 0};
    return true;
  }
  return false;
}

std::optional<ExitStatus> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return ExitStatus{};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(false)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    } else {
      ::usleep(static_cast<useconds_t>(std::min<long long>(left.count(), 10) * 1000));
    }
  }
  return status_;
}

ExitStatus ChildProcess::wait() {
  if (pid_ <= 0) return ExitStatus{};
  reap(true);
  return *status_;
}

void ChildProcess::kill(int signal) noexcept {
  if (!running()) return;
  ::kill(group_ ? -pid_ : pid_, signal);
}

ExitStatus ChildProcess::terminate(std::chrono::milliseconds grace) {
  kill(SIGTERM);
  if (auto s = wait_for(grace)) return *s;
  kill(SIGKILL);
  return wait();
}

}  // namespace lib
