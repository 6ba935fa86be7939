// tcpd/pidfile.cpp: the locked pid file and -stop / -restart.
#include "tcpd/pidfile.hpp"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <thread>
#include <unistd.h>

namespace tcpd {

namespace {

std::optional<pid_t> lock_holder(int fd) {
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  if (::fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK) return std::nullopt;
  return fl.l_pid;
}

}  // namespace

lib::Result<PidFile> PidFile::acquire(const std::string& path) {
  lib::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) {
    int err = errno;
    return lib::permanent_error("-pid=" + path + ": cannot open: " + lib::errno_text(err) +
                                " (does the directory exist and may this user write to it?)");
  }
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_SETLK, &fl) != 0) {
    int err = errno;
    if (err == EAGAIN || err == EACCES) {
      auto holder = lock_holder(fd.get());
      return lib::permanent_error("-pid=" + path + ": couriertcpd is already running" +
                                  (holder ? " as pid " + std::to_string(*holder) : std::string()) +
                                  "; stop it first with -pid=" + path + " -stop");
    }
    return lib::permanent_error("-pid=" + path + ": cannot lock: " + lib::errno_text(err));
  }
  return PidFile(path, std::move(fd));
}

lib::Result<void> PidFile::write_pid(pid_t pid) {
  std::string text = std::to_string(pid) + "\n";
  if (::ftruncate(fd_.get(), 0) != 0 ||
      ::pwrite(fd_.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    int err = errno;
    return lib::permanent_error("-pid=" + path_ + ": cannot write: " + lib::errno_text(err));
  }
  return {};
}

void PidFile::remove() {
  if (fd_) ::unlink(path_.c_str());
}

lib::Result<std::optional<pid_t>> pid_file_owner(const std::string& path) {
  lib::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return std::optional<pid_t>();
    return lib::permanent_error("-pid=" + path + ": cannot open: " + lib::errno_text(err));
  }
  return lock_holder(fd.get());
}

lib::Result<std::optional<pid_t>> signal_daemon(const std::string& path, int sig) {
  auto owner = pid_file_owner(path);
  if (!owner) return owner.error();
  if (!*owner) return std::optional<pid_t>();
  if (::kill(**owner, sig) != 0) {
    int err = errno;
    return lib::permanent_error("cannot signal couriertcpd pid " + std::to_string(**owner) + " (from " + path +
                                "): " + lib::errno_text(err));
  }
  return *owner;
}

lib::Result<std::optional<pid_t>> stop_daemon(const std::string& path, std::chrono::milliseconds wait) {
  auto pid = signal_daemon(path, SIGTERM);
  if (!pid || !*pid) return pid;
  auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    auto owner = pid_file_owner(path);
    if (!owner) return owner.error();
    if (!*owner) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return lib::temporary_error("couriertcpd pid " + std::to_string(**pid) + " (from " + path +
                              ") has not stopped yet; it may still be waiting for its children (-stopgrace)");
}

}  // namespace tcpd
