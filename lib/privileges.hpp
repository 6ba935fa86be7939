// lib/privileges.hpp: the one place a program gives up root (DESIGN.md,
// Privileges). drop_privileges() sets the supplementary groups, the gid and
// the uid, then checks that neither root's uid nor its gid can be regained
// and aborts the process if either can: a program that believes it dropped
// and did not must not go on parsing input.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

#include "lib/result.hpp"

namespace lib {

// Whom to become. With initgroups_name set, the supplementary groups are that
// system account's (initgroups); otherwise the process keeps none but gid.
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;            // for messages: "courier", "uid 5000"
  std::string initgroups_name; // empty: no supplementary groups
};

// Resolves Courier's -user/-group pair: names or numbers; -user alone also
// sets that account's group. Empty user means "stay this uid" (only the group
// changes, if given). Errors name the option and the fix.
Result<Identity> resolve_identity(const std::string& user, const std::string& group);

// The mail user (courier by default, configure --with-mailuser; MAILUSER in
// the environment overrides, as the start scripts export it).
std::string mail_user_name();
Result<Identity> mail_user();

enum class NotRoot {
  refuse,       // another uid than ours: an error naming both
  keep_going,   // the sandbox: warn once and stay who we are
};

// Becomes `who`. As root: setgroups/initgroups, setgid, setuid, then verify
// (real, effective and saved ids; setuid(0)/setgid(0) must fail) and abort()
// with a log line if root is still reachable. Not as root: nothing to do when
// `who` is us; otherwise as `not_root` says.
Result<void> drop_privileges(const Identity& who, NotRoot not_root = NotRoot::refuse);

// For programs that must never run as root (imapd, pop3d): an error naming
// the program and what should have switched when the uid or gid (real or
// effective) is 0.
Result<void> refuse_root(const std::string& program);

}  // namespace lib
