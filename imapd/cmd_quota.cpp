// imapd/cmd_quota.cpp: QUOTA (RFC 9208) over Courier's maildirsize: one
// quota root "" for the whole account (Maildir++ has one maildirsize at the
// Maildir root), with STORAGE (in KiB) and MESSAGE resources. GETQUOTAROOT
// and GETQUOTA read it; SETQUOTA is refused (the administrator sets quotas
// with maildirmake -q or the account's quota field).
#include <algorithm>
#include <optional>
#include <string>

#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/maildir_quota.hpp"

namespace imapd {
namespace {

// "* QUOTA "" (STORAGE used limit MESSAGE used limit)\r\n", or "" when the
// account has no quota. nullopt: maildirsize could not be read (logged).
std::optional<std::string> quota_line(const std::string& root, const std::string& login) {
  auto q = lib::maildir::Quota::open(root);
  if (!q) {
    lib::log::error("user=%s: QUOTA: %s", login.c_str(), q.error().message.c_str());
    return std::nullopt;
  }
  if (!q->active() || !q->data().quota.limited()) return std::string();
  lib::maildir::QuotaUsage usage = q->data().usage;
  if (q->data().needs_recalc) {
    auto r = q->recalculate();
    if (!r) {
      lib::log::error("user=%s: QUOTA: %s", login.c_str(), r.error().message.c_str());
      return std::nullopt;
    }
    usage = *r;
  }
  const auto& spec = q->data().quota;
  std::string items;
  if (spec.max_bytes > 0)
    items += "STORAGE " + std::to_string((std::max<std::int64_t>(usage.bytes, 0) + 1023) / 1024) + " " +
             std::to_string(spec.max_bytes / 1024);
  if (spec.max_messages > 0)
    items += std::string(items.empty() ? "" : " ") + "MESSAGE " +
             std::to_string(std::max<std::int64_t>(usage.messages, 0)) + " " + std::to_string(spec.max_messages);
  return "* QUOTA \"\" (" + items + ")\r\n";
}

}  // namespace

Completion Session::cmd_getquotaroot(const ParsedCommand& c) {
  if (c.args.size() != 1 || !c.args[0].is_astring()) return {"BAD", "Syntax: GETQUOTAROOT mailbox."};
  std::string why;
  auto name = mailbox_arg(c.args[0], why);
  if (!name) return {"NO", why};
  auto line = quota_line(root_, login_);
  if (!line) return {"NO", "Cannot read the quota now, see the log."};
  emit("* QUOTAROOT " + wire_name(name->imap_name) + (line->empty() ? "" : " \"\"") + "\r\n" + *line);
  return {"OK", reply::completed("GETQUOTAROOT")};
}

Completion Session::cmd_getquota(const ParsedCommand& c) {
  if (c.args.size() != 1 || !c.args[0].is_astring()) return {"BAD", "Syntax: GETQUOTA root."};
  if (!c.args[0].str().empty()) return {"NO", "[NONEXISTENT] The only quota root is \"\"."};
  auto line = quota_line(root_, login_);
  if (!line) return {"NO", "Cannot read the quota now, see the log."};
  if (line->empty()) return {"NO", "[NONEXISTENT] This account has no quota."};
  emit(*line);
  return {"OK", reply::completed("GETQUOTA")};
}

Completion Session::cmd_setquota(const ParsedCommand& c) {
  if (c.args.size() != 2 || !c.args[1].is_list()) return {"BAD", "Syntax: SETQUOTA root (resource limit ...)."};
  return {"NO", "[NOPERM] Quotas are set by the administrator (maildirmake -q or the account's quota)."};
}

}  // namespace imapd
