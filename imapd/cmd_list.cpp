// imapd/cmd_list.cpp: LIST and LSUB (RFC 3501 6.3.8, 6.3.9) with CHILDREN
// (RFC 3348) and SPECIAL-USE (RFC 6154) attributes; SUBSCRIBE, UNSUBSCRIBE
// (6.3.6, 6.3.7) on courierimapsubscribed; LIST-EXTENDED (RFC 5258:
// selection SUBSCRIBED, REMOTE, RECURSIVEMATCH; several patterns; RETURN
// SUBSCRIBED, CHILDREN, SPECIAL-USE) and LIST-STATUS (RFC 5819).
#include <map>
#include <set>
#include <string>
#include <vector>

#include "imapd/mutf7.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "imapd/shared_fs.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd {

Completion Session::list_common(const ParsedCommand& c, bool lsub) {
  if (!lsub && (c.args.size() != 2 || c.args[0].is_list() || c.args[1].is_list())) return list_extended(c);
  if (c.args.size() != 2 || !c.args[0].is_astring() || !c.args[1].is_astring())
    return {"BAD", std::string("Syntax: ") + (lsub ? "LSUB" : "LIST") + " reference pattern."};
  std::string ref(c.args[0].str());
  std::string pat(c.args[1].str());
  if (pat.empty() && !lsub) {
    emit("* LIST (\\Noselect) \".\" \"\"\r\n");
    return {"OK", reply::completed("LIST")};
  }
  auto ref8 = name_from_client(ref);
  auto pat8 = name_from_client(pat);
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
  if (!pattern.empty() && pattern.front() == '#') out += list_shared(pattern);  // cmd_acl.cpp
  for (const auto& e : shared_fs::list(root_, login_)) {  // shared.NICK.FOLDER (imapd/shared_fs.hpp)
    if (!list_match(pattern, e.imap_name)) continue;
    std::string attrs = e.has_children ? "\\HasChildren" : "\\HasNoChildren";
    if (!e.selectable) attrs = "\\Noselect " + attrs;
    out += "* LIST (" + attrs + ") \".\" " + wire_name(e.imap_name) + "\r\n";
  }
  emit(out);
  return {"OK", reply::completed("LIST")};
}

Completion Session::list_extended(const ParsedCommand& c) {
  const auto& a = c.args;
  const Completion syntax{"BAD", "Syntax: LIST [(selection)] reference pattern|(patterns) [RETURN (options)]."};
  std::size_t i = 0;
  bool sel_subscribed = false, sel_recursive = false;
  if (i < a.size() && a[i].is_list()) {
    for (const auto& v : a[i].items) {
      if (v.is_word("SUBSCRIBED")) sel_subscribed = true;
      else if (v.is_word("RECURSIVEMATCH")) sel_recursive = true;
      else if (!v.is_word("REMOTE")) return {"BAD", "Unknown LIST selection option."};
    }
    ++i;
  }
  if (sel_recursive && !sel_subscribed) return {"BAD", "RECURSIVEMATCH needs the SUBSCRIBED selection option."};
  if (i >= a.size() || !a[i].is_astring()) return syntax;
  std::string ref(a[i++].str());
  std::vector<std::string> patterns;
  if (i >= a.size()) return syntax;
  std::vector<const Value*> raw_patterns;
  if (a[i].is_list()) {
    if (a[i].items.empty()) return syntax;
    for (const auto& v : a[i].items) {
      if (!v.is_astring()) return syntax;
      raw_patterns.push_back(&v);
    }
  } else {
    raw_patterns.push_back(&a[i]);
  }
  ++i;
  bool ret_subscribed = false, ret_children = false;
  const Value* ret_status = nullptr;
  if (i < a.size()) {
    if (!a[i].is_word("RETURN") || i + 1 >= a.size() || !a[i + 1].is_list()) return syntax;
    const auto& opts = a[i + 1].items;
    for (std::size_t k = 0; k < opts.size(); ++k) {
      if (opts[k].is_word("SUBSCRIBED")) {
        ret_subscribed = true;
      } else if (opts[k].is_word("CHILDREN")) {
        ret_children = true;
      } else if (opts[k].is_word("SPECIAL-USE")) {
        // special-use attributes are always shown
      } else if (opts[k].is_word("STATUS") && k + 1 < opts.size() && valid_status_items(opts[k + 1])) {
        ret_status = &opts[++k];
      } else {
        return {"BAD", "Unknown LIST return option."};
      }
    }
    i += 2;
  }
  if (i != a.size()) return syntax;
  auto ref8 = name_from_client(ref);
  if (!ref8) return {"OK", reply::completed("LIST")};
  for (const Value* p : raw_patterns) {
    auto p8 = name_from_client(p->str());
    if (p8 && !p8->empty()) patterns.push_back(*ref8 + *p8);
  }
  auto matches = [&](const std::string& name) {
    for (const auto& p : patterns)
      if (list_match(p, name)) return true;
    return false;
  };
  auto folders = lib::maildir::list_folders(root_);
  if (!folders) {
    lib::log::error("user=%s: LIST: %s", login_.c_str(), folders.error().message.c_str());
    return {"NO", "Cannot list folders, see the log."};
  }
  struct Info {
    bool exists = true, has_children = false;
    std::string special;
  };
  std::map<std::string, Info> known;  // imap name -> what is on disk
  std::vector<std::string> order;
  known["INBOX"] = {true, !folders->empty(), {}};
  order.push_back("INBOX");
  for (const auto& f : *folders) {
    std::string name = imap_name_of(f.name);
    known[name] = {f.exists, f.has_children, std::string(special_use(f.name, settings_.trash_name))};
    order.push_back(name);
  }
  for (const auto& e : shared_fs::list(root_, login_)) {  // shared.NICK.FOLDER (imapd/shared_fs.hpp)
    known[e.imap_name] = {e.selectable, e.has_children, {}};
    order.push_back(e.imap_name);
  }
  std::set<std::string> subs;
  if (sel_subscribed || ret_subscribed) {
    auto r = read_subscriptions(root_);
    if (!r) return {"NO", std::string(reply::cannot_read_subscriptions)};
    subs = *r;
  }
  std::vector<std::string> names;  // what to consider, in output order
  if (sel_subscribed) {
    std::set<std::string> seen;
    for (const auto& s : subs) {
      if (seen.insert(s).second) names.push_back(s);
      if (!sel_recursive) continue;
      for (std::size_t dot = s.find('.'); dot != std::string::npos; dot = s.find('.', dot + 1))
        if (seen.insert(s.substr(0, dot)).second) names.push_back(s.substr(0, dot));
    }
  } else {
    names = order;
  }
  std::string out;
  for (const auto& name : names) {
    if (!matches(name)) continue;
    auto k = known.find(name);
    bool exists = k != known.end();
    bool subscribed = subs.count(name) > 0;
    std::string extended;
    if (sel_subscribed && !subscribed) {
      // RECURSIVEMATCH: shown for a subscribed descendant that is not listed itself.
      bool childinfo = false;
      for (const auto& s : subs)
        if (s.size() > name.size() + 1 && s.compare(0, name.size(), name) == 0 && s[name.size()] == '.' &&
            !matches(s))
          childinfo = true;
      if (!childinfo) continue;
      extended = " (CHILDINFO (\"SUBSCRIBED\"))";
    }
    std::vector<std::string> attrs;
    if (!exists) attrs.emplace_back("\\NonExistent");
    else if (!k->second.exists) attrs.emplace_back("\\Noselect");
    if (subscribed && (sel_subscribed || ret_subscribed)) attrs.emplace_back("\\Subscribed");
    if (exists && ret_children) attrs.emplace_back(k->second.has_children ? "\\HasChildren" : "\\HasNoChildren");
    if (exists && !k->second.special.empty()) attrs.push_back(k->second.special);
    std::string joined;
    for (const auto& at : attrs) joined += (joined.empty() ? "" : " ") + at;
    out += "* LIST (" + joined + ") \".\" " + wire_name(name) + extended + "\r\n";
    if (ret_status && exists && k->second.exists) {
      std::string why;
      Completion failure;
      if (auto fn = resolve_mailbox(name, why))
        if (auto line = status_response(*fn, *ret_status, failure)) out += *line;
    }
  }
  if (!sel_subscribed) {  // #shared (cmd_acl.cpp): each line once, whatever patterns overlap
    std::set<std::string> shared_seen;
    for (const auto& p : patterns) {
      if (p.empty() || p.front() != '#') continue;
      std::string lines = list_shared(p);
      for (std::size_t pos = 0, nl; (nl = lines.find('\n', pos)) != std::string::npos; pos = nl + 1)
        if (std::string line = lines.substr(pos, nl + 1 - pos); shared_seen.insert(line).second) out += line;
    }
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
  if (!name->dir.empty())  // shared.*: Courier subscribes only to a folder it can read
    if (auto p = shared_fs::prepare(root_, *name); !p) return {"NO", "[NONEXISTENT] " + p.error().message + "."};
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
