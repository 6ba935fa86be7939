// lib/unique_fd.cpp: see unique_fd.hpp.
#include "lib/unique_fd.hpp"

#include <cstring>
#include <string>
#include <unistd.h>

#include "lib/result.hpp"

namespace lib {

void UniqueFd::reset(int fd) noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is gone either way.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns a pointer that may or may not be buf.
  return std::string(::strerror_r(err, buf, sizeof buf));
}

}  // namespace lib
