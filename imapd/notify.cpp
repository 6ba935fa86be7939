// imapd/notify.cpp: NOTIFY's argument parser (see notify.hpp).
#include "imapd/notify.hpp"

namespace imapd {
namespace {

NotifyParse fail(std::string why, bool bad_event = false) {
  NotifyParse p;
  p.error = std::move(why);
  p.bad_event = bad_event;
  return p;
}

}  // namespace

bool notify_in_subtree(std::string_view name, std::string_view root) {
  if (name.size() < root.size() || name.substr(0, root.size()) != root) return false;
  return name.size() == root.size() || name[root.size()] == '.';
}

unsigned notify_events_for(const NotifyRequest& request, std::string_view name, bool subscribed) {
  for (const auto& g : request.groups) {
    bool match = false;
    switch (g.kind) {
      case NotifyGroup::Kind::selected:
      case NotifyGroup::Kind::selected_delayed: break;
      case NotifyGroup::Kind::inboxes: match = name == "INBOX"; break;
      case NotifyGroup::Kind::personal: match = true; break;
      case NotifyGroup::Kind::subscribed: match = subscribed; break;
      case NotifyGroup::Kind::subtree:
        for (const auto& r : g.names) match = match || notify_in_subtree(name, r);
        break;
      case NotifyGroup::Kind::mailboxes:
        for (const auto& r : g.names) match = match || name == r;
        break;
    }
    if (match) return g.events;
  }
  return 0;
}

NotifyParse parse_notify(const std::vector<Value>& args) {
  static constexpr const char* syntax = "Syntax: NOTIFY NONE or NOTIFY SET [STATUS] (filter events) ...";
  if (args.size() == 1 && args[0].is_word("NONE")) {
    NotifyParse p;
    p.request.emplace().none = true;
    return p;
  }
  if (args.empty() || !args[0].is_word("SET")) return fail(syntax);
  NotifyRequest req;
  std::size_t i = 1;
  if (i < args.size() && args[i].is_word("STATUS")) {
    req.status = true;
    ++i;
  }
  if (i >= args.size()) return fail(syntax);
  for (; i < args.size(); ++i) {
    const Value& g = args[i];
    if (!g.is_list() || g.items.size() < 2) return fail(syntax);
    NotifyGroup group;
    const Value& f = g.items[0];
    std::size_t next = 1;
    if (f.is_word("SELECTED")) group.kind = NotifyGroup::Kind::selected;
    else if (f.is_word("SELECTED-DELAYED")) group.kind = NotifyGroup::Kind::selected_delayed;
    else if (f.is_word("INBOXES")) group.kind = NotifyGroup::Kind::inboxes;
    else if (f.is_word("PERSONAL")) group.kind = NotifyGroup::Kind::personal;
    else if (f.is_word("SUBSCRIBED")) group.kind = NotifyGroup::Kind::subscribed;
    else if (f.is_word("SUBTREE") || f.is_word("MAILBOXES")) {
      group.kind = f.is_word("SUBTREE") ? NotifyGroup::Kind::subtree : NotifyGroup::Kind::mailboxes;
      if (g.items.size() < 3) return fail("NOTIFY: " + std::string(f.text) + " needs mailbox names.");
      const Value& n = g.items[1];
      if (n.is_list()) {
        if (n.items.empty()) return fail("NOTIFY: empty mailbox list.");
        for (const auto& m : n.items) {
          if (m.is_list() || m.kind == Value::Kind::section) return fail("NOTIFY: mailbox name expected.");
          group.names.emplace_back(m.str());
        }
      } else if (n.kind == Value::Kind::section) {
        return fail("NOTIFY: mailbox name expected.");
      } else {
        group.names.emplace_back(n.str());
      }
      next = 2;
    } else {
      return fail("NOTIFY: unknown mailbox filter.");
    }
    if (g.items.size() != next + 1) return fail(syntax);
    const Value& ev = g.items[next];
    if (ev.is_word("NONE")) {
      req.groups.push_back(std::move(group));
      continue;
    }
    if (!ev.is_list() || ev.items.empty()) return fail("NOTIFY: events must be NONE or a list.");
    for (std::size_t k = 0; k < ev.items.size(); ++k) {
      const Value& e = ev.items[k];
      if (!e.is_atom_like()) return fail("NOTIFY: event name expected.");
      unsigned bit = 0;
      if (e.is_word("MessageNew")) bit = notify_event::message_new;
      else if (e.is_word("MessageExpunge")) bit = notify_event::message_expunge;
      else if (e.is_word("FlagChange")) bit = notify_event::flag_change;
      else if (e.is_word("MailboxName")) bit = notify_event::mailbox_name;
      else if (e.is_word("SubscriptionChange")) bit = notify_event::subscription_change;
      else return fail("NOTIFY: event " + e.text + " is not supported.", true);
      if (group.events & bit) return fail("NOTIFY: event " + e.text + " given twice.");
      group.events |= bit;
      if (bit == notify_event::message_new && k + 1 < ev.items.size() && ev.items[k + 1].is_list()) {
        const Value& atts = ev.items[++k];
        if (atts.items.empty()) return fail("NOTIFY: MessageNew's fetch attributes are empty.");
        // RFC 5465 5.2: fetch attributes only for the selected mailbox.
        if (group.kind != NotifyGroup::Kind::selected && group.kind != NotifyGroup::Kind::selected_delayed)
          return fail("NOTIFY: MessageNew fetch attributes are only allowed for the selected mailbox.");
        group.fetch_atts = std::string(atts.raw);
      }
    }
    // RFC 5465 5: mailbox-level events have no meaning for the selected mailbox alone.
    if ((group.kind == NotifyGroup::Kind::selected || group.kind == NotifyGroup::Kind::selected_delayed) &&
        (group.events & (notify_event::mailbox_name | notify_event::subscription_change)))
      return fail("NOTIFY: MailboxName and SubscriptionChange do not apply to the selected mailbox.", true);
    req.groups.push_back(std::move(group));
  }
  NotifyParse p;
  p.request = std::move(req);
  return p;
}

}  // namespace imapd
