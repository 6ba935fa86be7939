// imapd/cmd_idle.cpp: IDLE (RFC 2177). While idling, changes to the selected
// folder (inotify, imapd/idle.hpp) are sent at once as EXISTS, EXPUNGE and
// FETCH FLAGS; without inotify the folder is polled every IMAP_IDLE_TIMEOUT.
// The client ends with "DONE"; after IMAP_TIMEOUT without it, the session
// ends (RFC 2177: clients re-issue IDLE at least every 29 minutes).
#include <poll.h>

#include <chrono>
#include <string>

#include "imapd/idle.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"

namespace imapd {

Completion Session::cmd_idle(const ParsedCommand& c) {
  if (!c.args.empty()) return {"BAD", "IDLE takes no arguments."};
  std::optional<FolderWatch> watch;
  if (mailbox_) {
    auto w = FolderWatch::open(mailbox_->dir());
    if (w) {
      watch.emplace(std::move(*w));
      if (!mailbox_->name().dir.empty()) (void)watch->add(mailbox_->dir() + "/shared");  // shared.*: the sharable folder
    } else {
      lib::log::warning("user=%s: IDLE falls back to polling: %s", login_.c_str(), w.error().message.c_str());
    }
  }
  send_updates(true);
  emit("+ idling\r\n");
  (void)out_.flush();
  auto deadline = std::chrono::steady_clock::now() + settings_.session_timeout;
  int poll_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(settings_.idle_timeout).count());
  for (;;) {
    if (in_.buffered() == 0) {
      pollfd fds[3] = {{in_.fd(), POLLIN, 0}, {watch ? watch->fd() : -1, POLLIN, 0}, {notify_fd(), POLLIN, 0}};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        emit("* BYE Autologout; idle for too long.\r\n");
        fatal_ = true;
        return {"NO", "IDLE timed out."};
      }
      bool polled = !watch || (notify_active() && notify_fd() < 0);  // something without inotify
      int wait_ms = static_cast<int>(std::min<long long>(left, polled ? poll_ms : left));
      int n = ::poll(fds, 3, wait_ms);
      if (n < 0 && errno != EINTR) {
        fatal_ = true;
        return {"NO", "IDLE failed."};
      }
      if (n <= 0 || !(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (watch && (fds[1].revents & POLLIN)) watch->drain();
        send_updates(true);
        if (notify_active()) notify_poll(n == 0);  // NOTIFY (RFC 5465): other mailboxes
        (void)out_.flush();
        if (fatal_) return {"NO", "IDLE ended."};
        continue;
      }
    }
    std::string line;
    auto st = in_.read_line(line);
    if (st != lib::io::ReadStatus::ok) {
      fatal_ = true;
      return {"BAD", "IDLE ended without DONE."};
    }
    if (line.size() == 4 && (line == "DONE" || line == "done" || line == "Done")) return {"OK", reply::completed("IDLE")};
    return {"BAD", "Expected DONE."};
  }
}

}  // namespace imapd
