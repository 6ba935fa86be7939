// tcpd/pidfile.hpp: couriertcpd's -pid file, locked for as long as the
// daemon runs, and the -stop / -restart commands that use it.
//
// The daemon holds an fcntl() write lock on the whole file; the lock, not
// the number written in the file, says whether it runs and which process it
// is (F_GETLK names the holder), so a stale file left by a crash or a
// reused pid never makes -stop kill the wrong process.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>

#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace tcpd {

class PidFile {
 public:
  // Creates or opens path and locks it. Fails naming the running daemon's
  // pid when another process holds the lock, or the path and errno text.
  static lib::Result<PidFile> acquire(const std::string& path);
  // Writes our pid into the file (replacing what was there).
  lib::Result<void> write_pid(pid_t pid);
  // Removes the file while still holding the lock (at a clean exit).
  void remove();

  PidFile(PidFile&&) noexcept = default;
  PidFile& operator=(PidFile&&) noexcept = default;

 private:
  PidFile(std::string path, lib::UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  lib::UniqueFd fd_;
};

// The pid of the process holding path's lock; nullopt when none does (not
// running, or no such file).
lib::Result<std::optional<pid_t>> pid_file_owner(const std::string& path);

// -stop: SIGTERM to the daemon, then waits up to wait for it to release the
// lock. Returns the pid stopped, or nullopt when it was not running.
lib::Result<std::optional<pid_t>> stop_daemon(const std::string& path, std::chrono::milliseconds wait);

// -restart: SIGHUP to the daemon. nullopt when it is not running.
lib::Result<std::optional<pid_t>> signal_daemon(const std::string& path, int sig);

}  // namespace tcpd
