// imapd/idle.hpp: change notification for IDLE (RFC 2177): an inotify(7)
// watch on a folder's new/, cur/ and courierimapkeywords/, so deliveries and
// other sessions' flag changes and expunges reach an idling client at once.
// Without inotify (or for a folder on NFS) the session falls back to polling
// every IMAP_IDLE_TIMEOUT seconds.
#pragma once

#include <string>
#include <vector>

#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace imapd {

class FolderWatch {
 public:
  // Watches dir/new, dir/cur and dir/courierimapkeywords (if present).
  static lib::Result<FolderWatch> open(const std::string& dir);
  // An inotify instance watching nothing yet (NOTIFY, cmd_notify.cpp).
  static lib::Result<FolderWatch> create();
  // Adds dir/new, dir/cur, dir/courierimapkeywords and dir itself (folders
  // and courierimapsubscribed appear and go there); false: dir/new or dir/cur
  // could not be watched.
  bool add(const std::string& dir);
  int fd() const { return fd_.get(); }
  // Reads and forgets the pending events (the caller rescans the folder);
  // true when there were any. Of the directories given to add(), only
  // subfolders and courierimapsubscribed count (imapd itself writes the
  // folder's UID and modseq files there).
  bool drain();

 private:
  lib::UniqueFd fd_;
  std::vector<int> folder_wds_;  // add()'s watches of dir itself
};

}  // namespace imapd
