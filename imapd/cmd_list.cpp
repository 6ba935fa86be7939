// imapd/cmd_list.cpp: LIST and LSUB (RFC 3501 6.3.8, 6.3.9) with CHILDREN
// (RFC 3348) and SPECIAL-USE (RFC 6154) attributes; SUBSCRIBE, UNSUBSCRIBE
// (6.3.6, 6.3.7) on courierimapsubscribed.
#include <set>
#include <string>

#include "imapd/mutf7.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd {

Completion Session::list_common(const ParsedCommand& c, bool lsub) {
  if (c.args.size() != 2 || !c.args[0].is_astring() || !c.args[1].is_astring())
    return {"BAD", std::string("Syntax: ") + (lsub ? "LSUB" : "LIST") + " reference pattern."};
  std::string ref(c.args[0].str());
  std::string pat(c.args[1].str());
  if (pat.empty() && !lsub) {
    emit("* LIST (\\Noselect) \".\" \"\"\r\n");
    return {"OK", reply::completed("LIST")};
  }
  auto ref8 = mutf7_to_utf8(ref);
  auto pat8 = mutf7_to_utf8(pat);
  if (!ref8 || !pat8) return {"OK", std::string(lsub ? "LSUB" : "LIST") + " completed."};
  std::string pattern = *ref8 + *pat8;
  auto folders = lib::maildir::list_folders(root_);
  if (!folders) {
    lib::log::error("user=%s: LIST: %s", login_.c_str(), folders.error().message.c_str());
    return {"NO", "Cannot list folders, see the log."};
  }
  std::string out;
  if (lsub) {
    auto subs = read_subscriptions(root_);
    if (!subs) return {"NO", std::string(reply::cannot_read_subscriptions)};
    // RFC 3501 6.3.9: a parent of a subscribed mailbox that is not itself
    // subscribed is listed as \Noselect when the pattern matches it (and not
    // the child: "%" stops at the hierarchy separator).
    std::set<std::string> parents;
    for (const auto& s : *subs) {
      if (list_match(pattern, s)) {
        out += "* LSUB () \".\" " + wire_name(s) + "\r\n";
        continue;
      }
      for (std::size_t dot = s.find('.'); dot != std::string::npos; dot = s.find('.', dot + 1)) {
        std::string parent = s.substr(0, dot);
        if (!subs->count(parent) && list_match(pattern, parent)) parents.insert(parent);
      }
    }
    for (const auto& p : parents) out += "* LSUB (\\Noselect) \".\" " + wire_name(p) + "\r\n";
    emit(out);
    return {"OK", reply::completed("LSUB")};
  }
  if (list_match(pattern, "INBOX"))
    out += std::string("* LIST (") + (folders->empty() ? "\\HasNoChildren" : "\\HasChildren") + ") \".\" " + wire_name("INBOX") + "\r\n";
  for (const auto& f : *folders) {
    std::string name = imap_name_of(f.name);
    if (!list_match(pattern, name)) continue;
    std::string attrs = f.has_children ? "\\HasChildren" : "\\HasNoChildren";
    if (!f.exists) attrs = "\\Noselect " + attrs;
    auto su = special_use(f.name, settings_.trash_name);
    if (!su.empty()) attrs += " " + std::string(su);
    out += "* LIST (" + attrs + ") \".\" " + wire_name(name) + "\r\n";
  }
  emit(out);
  return {"OK", reply::completed("LIST")};
}

Completion Session::cmd_list(const ParsedCommand& c) { return list_common(c, false); }
Completion Session::cmd_lsub(const ParsedCommand& c) { return list_common(c, true); }

Completion Session::cmd_subscribe(const ParsedCommand& c) {
  if (c.args.size() != 1) return {"BAD", "Syntax: SUBSCRIBE mailbox."};
  std::string why;
  auto name = mailbox_arg(c.args[0], why);
  if (!name) return {"NO", why};
  auto subs = read_subscriptions(root_);
  if (!subs) return {"NO", std::string(reply::cannot_read_subscriptions)};
  if (subs->size() >= max_subscriptions) return {"NO", "Too many subscriptions."};
  subs->insert(name->imap_name);
  auto w = write_subscriptions(root_, *subs);
  if (!w) {
    lib::log::error("user=%s: %s", login_.c_str(), w.error().message.c_str());
    return {"NO", std::string(reply::cannot_save_subscriptions)};
  }
  return {"OK", reply::completed("SUBSCRIBE")};
}

Completion Session::cmd_unsubscribe(const ParsedCommand& c) {
  if (c.args.size() != 1) return {"BAD", "Syntax: UNSUBSCRIBE mailbox."};
  std::string why;
  auto name = mailbox_arg(c.args[0], why);
  if (!name) return {"NO", why};
  auto subs = read_subscriptions(root_);
  if (!subs) return {"NO", std::string(reply::cannot_read_subscriptions)};
  subs->erase(name->imap_name);
  auto w = write_subscriptions(root_, *subs);
  if (!w) {
    lib::log::error("user=%s: %s", login_.c_str(), w.error().message.c_str());
    return {"NO", std::string(reply::cannot_save_subscriptions)};
  }
  return {"OK", reply::completed("UNSUBSCRIBE")};
}

}  // namespace imapd
