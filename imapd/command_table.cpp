// imapd/command_table.cpp: the command table (see command_table.hpp).
#include "imapd/command_table.hpp"

#include <array>

namespace imapd {
namespace {

constexpr std::array<CommandSpec, 31> table = {{
    {"CAPABILITY", &Session::cmd_capability, false, false, true},
    {"NOOP", &Session::cmd_noop, false, false, true},
    {"LOGOUT", &Session::cmd_logout, false, false, true},
    {"ID", &Session::cmd_id, false, false, true},
    {"ENABLE", &Session::cmd_enable, false, false, true},
    {"NAMESPACE", &Session::cmd_namespace, false, false, true},
    {"STARTTLS", &Session::cmd_starttls, false, false, true},
    {"LOGIN", &Session::cmd_authenticate, false, false, true},
    {"AUTHENTICATE", &Session::cmd_authenticate, false, false, true},
    {"SELECT", &Session::cmd_select, false, false, true},
    {"EXAMINE", &Session::cmd_select, false, false, true},
    {"CREATE", &Session::cmd_create, false, false, true},
    {"DELETE", &Session::cmd_delete, false, false, true},
    {"RENAME", &Session::cmd_rename, false, false, true},
    {"SUBSCRIBE", &Session::cmd_subscribe, false, false, true},
    {"UNSUBSCRIBE", &Session::cmd_unsubscribe, false, false, true},
    {"LIST", &Session::cmd_list, false, false, true},
    {"LSUB", &Session::cmd_lsub, false, false, true},
    {"STATUS", &Session::cmd_status, false, false, true},
    {"APPEND", &Session::cmd_append, false, false, true},
    {"IDLE", &Session::cmd_idle, false, false, true},
    {"CHECK", &Session::cmd_check, true, false, true},
    {"CLOSE", &Session::cmd_close, true, false, true},
    {"UNSELECT", &Session::cmd_unselect, true, false, true},
    {"EXPUNGE", &Session::cmd_expunge, true, true, true},
    {"SEARCH", &Session::cmd_search, true, true, false},
    {"FETCH", &Session::cmd_fetch, true, true, false},
    {"STORE", &Session::cmd_store, true, true, false},
    {"COPY", &Session::cmd_copy, true, true, true},
    {"MOVE", &Session::cmd_move, true, true, true},
    {"XNOOP", &Session::cmd_noop, false, false, true},
}};

}  // namespace

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : table)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace imapd
