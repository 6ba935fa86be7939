// imapd/cmd_notify.cpp: NOTIFY (RFC 5465). The client names the mailboxes it
// follows and the events it wants; imapd watches them with inotify (idle.hpp)
// and, after each command and while idling, sends
//   * STATUS name (MESSAGES n UIDNEXT n UIDVALIDITY n HIGHESTMODSEQ n)
// for a followed mailbox other than the selected one whose counts changed
// (MessageNew, MessageExpunge, FlagChange), "* LIST" for folders created or
// deleted (MailboxName) and subscriptions changed (SubscriptionChange). The
// selected mailbox gets EXISTS, EXPUNGE and FETCH as always (send_updates),
// plus a FETCH of MessageNew's attributes for each new message.
// Between commands the session waits on the same watches (notify_wait), so a
// client that does not IDLE is told too; EXPUNGE of the selected mailbox
// still waits for its next command (RFC 3501 7.4.1: none while no command
// is in progress).
// Without inotify, every command (and IDLE or the wait between commands
// every IMAP_IDLE_TIMEOUT) rescans.
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "imapd/fetch.hpp"
#include "imapd/folders.hpp"
#include "imapd/idle.hpp"
#include "imapd/modseq.hpp"
#include "imapd/notify.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd {

struct Session::NotifyState {
  NotifyRequest request;  // names of subtree/mailboxes groups canonical (UTF-8)
  struct Snapshot {
    std::uint32_t messages = 0, uidnext = 0, uidvalidity = 0;
    std::uint64_t highest_modseq = 0;
    bool operator==(const Snapshot&) const = default;
  };
  std::map<std::string, Snapshot> snapshots;  // by canonical name
  std::set<std::string> mailboxes;            // existing names (MailboxName)
  std::set<std::string> subscriptions;        // (SubscriptionChange)
  std::optional<FolderWatch> watch;
  std::set<std::string> watched;  // folder dirs added to the watch
  std::string selected_fetch;     // MessageNew "(atts)" for the selected mailbox
};

namespace {

// The STATUS items a mailbox's events call for (RFC 5465 5.1-5.3).
std::string status_items(unsigned events) {
  std::string out;
  auto add = [&](const char* w) { out += out.empty() ? w : std::string(" ") + w; };
  if (events & (notify_event::message_new | notify_event::message_expunge)) add("MESSAGES");
  if (events & notify_event::message_new) add("UIDNEXT");
  if (events & (notify_event::message_new | notify_event::flag_change)) add("UIDVALIDITY");
  if (events & notify_event::flag_change) add("HIGHESTMODSEQ");
  return out;
}

bool is_selected_kind(const NotifyGroup& g) {
  return g.kind == NotifyGroup::Kind::selected || g.kind == NotifyGroup::Kind::selected_delayed;
}

// Whether the client asked to hear of the selected mailbox unprompted: a
// selected filter with events, or none and another filter covering it.
bool follows_selected(const NotifyRequest& request, std::string_view selected_name) {
  for (const auto& g : request.groups)
    if (is_selected_kind(g)) return g.events != 0;
  return notify_events_for(request, selected_name, false) != 0;
}

}  // namespace

int Session::notify_fd() const { return notify_ && notify_->watch ? notify_->watch->fd() : -1; }

Completion Session::cmd_notify(const ParsedCommand& c) {
  auto parsed = parse_notify(c.args);
  if (!parsed.request) {
    if (parsed.bad_event) return {"NO", std::string("[BADEVENT (") + notify_supported_events + ")] " + parsed.error};
    return {"BAD", parsed.error};
  }
  if (parsed.request->none) {
    notify_.reset();
    return {"OK", "NOTIFY completed, notifications off."};
  }
  auto state = std::make_shared<NotifyState>();
  state->request = std::move(*parsed.request);
  for (auto& g : state->request.groups) {
    if (is_selected_kind(g) && !g.fetch_atts.empty() && state->selected_fetch.empty())
      state->selected_fetch = g.fetch_atts;
    for (auto& n : g.names) {
      std::string why;
      auto utf8 = name_from_client(n);
      if (!utf8) return {"BAD", "NOTIFY: invalid mailbox name."};
      auto f = resolve_mailbox(*utf8, why);
      if (!f) return {"NO", "NOTIFY: " + why};
      n = f->imap_name;
    }
  }
  // A fetch attribute list is checked once now, as FETCH would read it.
  if (!state->selected_fetch.empty()) {
    ParsedCommand probe = parse_command("x UID FETCH 1 " + state->selected_fetch);
    std::string error;
    if (!probe.ok() || probe.args.size() != 2 || !parse_fetch_attributes(probe.args[1], true, error))
      return {"BAD", "NOTIFY: invalid MessageNew fetch attributes: " + (probe.ok() ? error : probe.error)};
  }
  auto w = FolderWatch::create();
  if (w) state->watch.emplace(std::move(*w));
  else lib::log::warning("user=%s: NOTIFY falls back to rescanning at each command: %s", login_.c_str(),
                         w.error().message.c_str());
  if (state->watch) (void)state->watch->add(root_);
  bool send_status = state->request.status;
  notify_ = std::move(state);
  // The first scan takes the snapshots; with STATUS it also tells them
  // (RFC 5465 3.1: for the mailboxes with message events).
  auto st = notify_;
  notify_poll(true);
  if (send_status) {
    for (const auto& [name, snap] : st->snapshots) {
      (void)snap;
      std::string why;
      auto f = resolve_mailbox(name, why);
      if (!f) continue;
      unsigned ev = notify_events_for(st->request, name, st->subscriptions.count(name) > 0);
      std::string items = status_items(ev);
      if (items.empty()) continue;
      ParsedCommand pc = parse_command("x STATUS INBOX (" + items + ")");
      Completion failure;
      if (auto line = status_response(*f, pc.args[1], failure)) emit(*line);
    }
  }
  return {"OK", reply::completed("NOTIFY")};
}

void Session::notify_poll(bool force) {
  if (!notify_) return;
  NotifyState& st = *notify_;
  bool changed = st.watch ? st.watch->drain() : true;
  if (!changed && !force) return;
  const std::string selected_name = mailbox_ ? mailbox_->name().imap_name : std::string();

  auto folders = lib::maildir::list_folders(root_);
  if (!folders) {
    lib::log::error("user=%s: NOTIFY: %s", login_.c_str(), folders.error().message.c_str());
    return;
  }
  std::set<std::string> names{"INBOX"};
  for (const auto& f : *folders)
    if (f.exists) names.insert(imap_name_of(f.name));
  std::set<std::string> subs;
  bool wants_subs = false;
  for (const auto& g : st.request.groups)
    wants_subs = wants_subs || g.kind == NotifyGroup::Kind::subscribed ||
                 (g.events & notify_event::subscription_change);
  if (wants_subs) {
    auto s = read_subscriptions(root_);
    if (s) subs = std::move(*s);
  }
  // The events of the first filter that names a mailbox (RFC 5465 6); the
  // selected mailbox has its own filters.
  auto events_for = [&](const std::string& name) -> unsigned {
    return notify_events_for(st.request, name, subs.count(name) > 0 || st.subscriptions.count(name) > 0);
  };
  bool first = st.mailboxes.empty();
  std::string out;
  if (!first) {
    for (const auto& n : names)
      if (!st.mailboxes.count(n) && (events_for(n) & notify_event::mailbox_name))
        out += "* LIST () \".\" " + wire_name(n) + "\r\n";
    for (const auto& n : st.mailboxes)
      if (!names.count(n) && (events_for(n) & notify_event::mailbox_name))
        out += "* LIST (\\NonExistent) \".\" " + wire_name(n) + "\r\n";
    if (wants_subs) {
      for (const auto& n : subs)
        if (!st.subscriptions.count(n) && (events_for(n) & notify_event::subscription_change))
          out += "* LIST (\\Subscribed) \".\" " + wire_name(n) + "\r\n";
      for (const auto& n : st.subscriptions)
        if (!subs.count(n) && (events_for(n) & notify_event::subscription_change))
          out += "* LIST () \".\" " + wire_name(n) + "\r\n";
    }
  }
  for (auto it = st.watched.begin(); it != st.watched.end();)
    it = names.count(*it) ? std::next(it) : st.watched.erase(it);
  st.mailboxes = names;
  st.subscriptions = subs;

  constexpr unsigned message_events = notify_event::message_new | notify_event::message_expunge | notify_event::flag_change;
  std::map<std::string, NotifyState::Snapshot> snapshots;
  for (const auto& n : names) {
    if (n == selected_name) continue;
    unsigned ev = events_for(n) & message_events;
    if (!ev) continue;
    std::string why;
    auto f = resolve_mailbox(n, why);
    if (!f) continue;
    std::string dir = folder_dir(*f);
    if (st.watch && !st.watched.count(n)) {
      if (st.watch->add(dir)) st.watched.insert(n);
    }
    auto fs = folder_status(dir, false);
    if (!fs) continue;  // gone meanwhile
    NotifyState::Snapshot snap;
    snap.messages = (ev & (notify_event::message_new | notify_event::message_expunge)) ? fs->messages : 0;
    if (ev & notify_event::message_new) snap.uidnext = fs->uidnext;
    if (ev & (notify_event::message_new | notify_event::flag_change)) snap.uidvalidity = fs->uidvalidity;
    if (ev & notify_event::flag_change) {
      auto h = folder_highest_modseq(dir);
      if (h) snap.highest_modseq = *h;
    }
    auto old = st.snapshots.find(n);
    if (old != st.snapshots.end() && !(old->second == snap)) {
      ParsedCommand pc = parse_command("x STATUS INBOX (" + status_items(ev) + ")");
      Completion failure;
      if (auto line = status_response(*f, pc.args[1], failure)) out += *line;
    }
    snapshots.emplace(n, snap);
  }
  st.snapshots = std::move(snapshots);
  if (!out.empty()) emit(out);
}

void Session::notify_fetch_new(std::uint32_t uid_before) {
  if (!notify_ || notify_->selected_fetch.empty() || !mailbox_ || mailbox_->messages().empty()) return;
  std::uint32_t last = mailbox_->messages().back().uid;
  if (last <= uid_before) return;
  // RFC 5465 5.2: the attributes of each new message, as UID FETCH gives them.
  std::string text = "x UID FETCH " + std::to_string(uid_before + 1) + ":" + std::to_string(last) + " " +
                     notify_->selected_fetch;
  ParsedCommand pc = parse_command(text);
  if (pc.ok()) (void)cmd_fetch(pc);
}

bool Session::notify_wait() {
  std::optional<FolderWatch> selected;  // the selected folder, while it is followed
  std::string selected_dir;
  const auto deadline = std::chrono::steady_clock::now() + settings_.session_timeout;
  const int poll_ms =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(settings_.idle_timeout).count());
  while (notify_ && !fatal_ && in_.buffered() == 0) {
    const bool follow = mailbox_ && follows_selected(notify_->request, mailbox_->name().imap_name);
    if (!follow) {
      selected.reset();
      selected_dir.clear();
    } else if (selected_dir != mailbox_->dir()) {
      selected.reset();
      selected_dir = mailbox_->dir();
      if (auto w = FolderWatch::open(selected_dir)) selected.emplace(std::move(*w));
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    const bool polled = (follow && !selected) || notify_fd() < 0;  // something without inotify
    const int wait_ms = static_cast<int>(std::min<long long>(left, polled ? poll_ms : left));
    pollfd fds[3] = {{in_.fd(), POLLIN, 0}, {selected ? selected->fd() : -1, POLLIN, 0}, {notify_fd(), POLLIN, 0}};
    const int n = ::poll(fds, 3, wait_ms);
    if (n < 0 && errno != EINTR) return true;  // read_command reports the descriptor's error
    if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) return true;
    if (selected && (fds[1].revents & POLLIN)) selected->drain();
    if (follow && (n == 0 || (fds[1].revents & POLLIN))) send_updates(false);
    notify_poll(n == 0);
    if (!out_.flush()) return true;
  }
  return true;
}

}  // namespace imapd
