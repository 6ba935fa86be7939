// imapd/idle.cpp: inotify watch for IDLE (see idle.hpp).
#include "imapd/idle.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

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

lib::Result<FolderWatch> FolderWatch::create() {
  FolderWatch w;
  w.fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!w.fd_) return lib::temporary_error("inotify_init1: " + lib::errno_text(errno));
  return w;
}

bool FolderWatch::add(const std::string& dir) {
  constexpr uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB;
  bool ok = true;
  for (const char* sub : {"/new", "/cur"}) {
    std::string p = dir + sub;
    if (::inotify_add_watch(fd_.get(), p.c_str(), mask) < 0) ok = false;
  }
  std::string kw = dir + "/courierimapkeywords";
  (void)::inotify_add_watch(fd_.get(), kw.c_str(), mask);
  int wd = ::inotify_add_watch(fd_.get(), dir.c_str(), IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE);
  if (wd >= 0) folder_wds_.push_back(wd);
  return ok;
}

bool FolderWatch::drain() {
  alignas(inotify_event) char buf[8192];
  bool any = false;
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      bool folder_level = std::find(folder_wds_.begin(), folder_wds_.end(), ev->wd) != folder_wds_.end();
      if (!folder_level || (ev->mask & (IN_ISDIR | IN_Q_OVERFLOW)) ||
          (ev->len && std::string_view(ev->name) == "courierimapsubscribed"))
        any = true;
    }
  }
  return any;
}

}  // namespace imapd
