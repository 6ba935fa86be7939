// imapd/command_table.hpp: the commands of the authenticated and selected
// states (RFC 3501 6.1-6.4 and the extensions), one constexpr table: name,
// handler, whether a mailbox must be selected, whether a UID form exists, and
// whether EXPUNGE responses may follow (not after FETCH, STORE, SEARCH:
// RFC 3501 7.4.1).
#pragma once

#include <string_view>

#include "imapd/session.hpp"

namespace imapd {

// Entries name their flags (designated initializers); what is not named has
// the default: usable in the authenticated state, no UID form, EXPUNGE ok.
struct CommandSpec {
  std::string_view name;
  Completion (Session::*handler)(const ParsedCommand&) = nullptr;
  bool needs_selected = false;  // a mailbox must be selected
  bool has_uid_form = false;    // "UID <name>" exists
  bool expunge_ok = true;       // plain form; UID forms always allow EXPUNGE responses
};

// The entry for an upper-case command name, or nullptr.
const CommandSpec* find_command(std::string_view name);

}  // namespace imapd
