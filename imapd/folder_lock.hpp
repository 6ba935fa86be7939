// imapd/folder_lock.hpp: flock(2) on a Maildir++ folder directory, held while
// a session reads, changes and writes back one of the folder's state files
// (courierimapuiddb, courierimapkeywords/:list), so two imapd sessions never
// interleave a read-modify-write of the same file.
//
// Lock order: a session holds at most one FolderLock at a time (assign_uids and
// update_keywords each take and release their own), so there is no deadlock.
#pragma once

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <string>

#include "lib/unique_fd.hpp"

namespace imapd {

class FolderLock {
 public:
  explicit FolderLock(const std::string& dir)
      : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_) {
      while (::flock(fd_.get(), LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  // False when the folder could not be opened (errno tells why).
  bool ok() const { return fd_.valid(); }

 private:
  lib::UniqueFd fd_;  // closing releases the lock
};

}  // namespace imapd
