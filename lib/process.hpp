// lib/process.hpp: child processes. spawn() runs a program with an explicit
// environment and chosen descriptors; wait_for() waits with a timeout; a
// ChildProcess that goes out of scope while still running is killed and
// reaped, so no caller leaks zombies.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "lib/result.hpp"

namespace lib {

struct SpawnOptions {
  std::vector<std::string> argv;      // argv[0] is the program: a path, or a name searched in PATH
  std::vector<std::string> env;       // "NAME=value" entries
  bool inherit_env = false;           // start from this process's environment, then apply env
  int stdin_fd = -1;                  // -1: /dev/null
  int stdout_fd = -1;                 // -1: /dev/null
  int stderr_fd = 2;                  // -1: /dev/null; default: ours
  std::string cwd;                    // empty: ours
  bool new_process_group = false;     // so kill_group() reaches grandchildren too
};

struct ExitStatus {
  bool exited = false;   // exited normally, code is valid
  int code = 0;
  int signal = 0;        // the signal that ended it, when !exited

  bool success() const noexcept { return exited && code == 0; }
  std::string describe() const;  // "exit 75", "killed by signal 9 (Killed)"
};

class ChildProcess {
 public:
  // Starts the program. Fails (permanently) when the program cannot be
  // executed, with the path and errno text: exec errors are reported to the
  // parent through a close-on-exec pipe, not as a mysterious exit 127.
  static Result<ChildProcess> spawn(const SpawnOptions& options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0 && !status_; }

  // Waits up to timeout for the child to end; nullopt if it is still running.
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  // Waits without limit.
  ExitStatus wait();
  // Sends a signal to the child (or its group, when spawned with one).
  void kill(int signal) noexcept;
  // SIGTERM, wait up to grace, then SIGKILL; returns how it ended.
  ExitStatus terminate(std::chrono::milliseconds grace);

 private:
  explicit ChildProcess(pid_t pid, int pidfd, bool group) noexcept
      : pid_(pid), pidfd_(pidfd), group_(group) {}
  bool reap(bool block);

  pid_t pid_ = -1;
  int pidfd_ = -1;  // pidfd_open() descriptor for poll(), or -1 where unsupported
  bool group_ = false;
  std::optional<ExitStatus> status_;
};

// Converts a waitpid() status.
ExitStatus exit_status_from_wait(int wstatus);

}  // namespace lib
