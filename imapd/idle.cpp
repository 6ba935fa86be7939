// imapd/idle.cpp: inotify watch for IDLE (see idle.hpp).
#include "imapd/idle.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

namespace imapd {

lib::Result<FolderWatch> FolderWatch::open(const std::string& dir) {
  FolderWatch w;
  w.fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!w.fd_) return lib::temporary_error("inotify_init1: " + lib::errno_text(errno));
  constexpr uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB;
  for (const char* sub : {"/new", "/cur"}) {
    std::string p = dir + sub;
    if (::inotify_add_watch(w.fd_.get(), p.c_str(), mask) < 0)
      return lib::temporary_error("inotify_add_watch " + p + ": " + lib::errno_text(errno));
  }
  std::string kw = dir + "/courierimapkeywords";
  (void)::inotify_add_watch(w.fd_.get(), kw.c_str(), mask);
  (void)::inotify_add_watch(w.fd_.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_DELETE);
  return w;
}

void FolderWatch::drain() {
  alignas(inotify_event) char buf[8192];
  while (::read(fd_.get(), buf, sizeof buf) > 0) {
  }
}

}  // namespace imapd
