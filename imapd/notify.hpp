// imapd/notify.hpp: the NOTIFY command's arguments (RFC 5465 3, 5, 6):
//   NOTIFY NONE
//   NOTIFY SET [STATUS] (filter events) ...
// filter: selected | selected-delayed | inboxes | personal | subscribed |
// subtree mailbox(es) | mailboxes mailbox(es); events: NONE or a list of
// MessageNew [(fetch-att ...)], MessageExpunge, FlagChange, MailboxName,
// SubscriptionChange. The session (cmd_notify.cpp) decides which mailboxes a
// request covers and sends the notifications.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/lexer.hpp"

namespace imapd {

namespace notify_event {
inline constexpr unsigned message_new = 1, message_expunge = 2, flag_change = 4, mailbox_name = 8,
                          subscription_change = 16;
}

struct NotifyGroup {
  enum class Kind { selected, selected_delayed, inboxes, personal, subscribed, subtree, mailboxes };
  Kind kind = Kind::selected;
  std::vector<std::string> names;  // subtree/mailboxes: the names as the client wrote them
  unsigned events = 0;             // notify_event bits; 0 for NONE
  std::string fetch_atts;          // MessageNew's "(fetch-att ...)" as written, or empty
};

struct NotifyRequest {
  bool none = false;    // NOTIFY NONE
  bool status = false;  // SET STATUS: send the current STATUS of the mailboxes at once
  std::vector<NotifyGroup> groups;
};

struct NotifyParse {
  std::optional<NotifyRequest> request;
  std::string error;       // reply text when !request
  bool bad_event = false;  // reply NO [BADEVENT (...)] rather than BAD
};

// The events imapd supports, for "[BADEVENT (...)]".
inline constexpr const char* notify_supported_events =
    "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange";

// Parses NOTIFY's arguments (after the command name).
NotifyParse parse_notify(const std::vector<Value>& args);

// Whether `name` (canonical, "INBOX" or "INBOX.x") is `root` or below it.
bool notify_in_subtree(std::string_view name, std::string_view root);

// The events of a mailbox other than the selected one: those of the first
// non-selected filter that names it (RFC 5465 6), 0 when none does. The
// request's subtree/mailboxes names are canonical; `subscribed` tells
// whether the mailbox is subscribed.
unsigned notify_events_for(const NotifyRequest& request, std::string_view name, bool subscribed);

}  // namespace imapd
