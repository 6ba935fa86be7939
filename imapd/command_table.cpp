// imapd/command_table.cpp: the command table (see command_table.hpp).
#include "imapd/command_table.hpp"

#include <array>

#include "imapd/verbs.hpp"

namespace imapd {
namespace {

constexpr std::array<CommandSpec, 47> table = {{
    {.name = "CAPABILITY", .handler = &Session::cmd_capability},
    {.name = "NOOP", .handler = &Session::cmd_noop},
    {.name = "LOGOUT", .handler = &Session::cmd_logout},
    {.name = "ID", .handler = &Session::cmd_id},
    {.name = "ENABLE", .handler = &Session::cmd_enable},
    {.name = "NAMESPACE", .handler = &Session::cmd_namespace},
    {.name = "STARTTLS", .handler = &Session::cmd_starttls},
    {.name = "LOGIN", .handler = &Session::cmd_authenticate},
    {.name = "AUTHENTICATE", .handler = &Session::cmd_authenticate},
    {.name = "SELECT", .handler = &Session::cmd_select},
    {.name = "EXAMINE", .handler = &Session::cmd_select},
    {.name = "CREATE", .handler = &Session::cmd_create},
    {.name = "DELETE", .handler = &Session::cmd_delete},
    {.name = "RENAME", .handler = &Session::cmd_rename},
    {.name = "SUBSCRIBE", .handler = &Session::cmd_subscribe},
    {.name = "UNSUBSCRIBE", .handler = &Session::cmd_unsubscribe},
    {.name = "LIST", .handler = &Session::cmd_list},
    {.name = "LSUB", .handler = &Session::cmd_lsub},
    {.name = "STATUS", .handler = &Session::cmd_status},
    {.name = "APPEND", .handler = &Session::cmd_append},
    {.name = "IDLE", .handler = &Session::cmd_idle},
    {.name = "CHECK", .handler = &Session::cmd_check, .needs_selected = true},
    {.name = "CLOSE", .handler = &Session::cmd_close, .needs_selected = true},
    {.name = "UNSELECT", .handler = &Session::cmd_unselect, .needs_selected = true},
    {.name = "EXPUNGE", .handler = &Session::cmd_expunge, .needs_selected = true, .has_uid_form = true},
    {.name = "SEARCH", .handler = &Session::cmd_search, .needs_selected = true, .has_uid_form = true,
     .expunge_ok = false},
    {.name = "FETCH", .handler = &Session::cmd_fetch, .needs_selected = true, .has_uid_form = true,
     .expunge_ok = false},
    {.name = "STORE", .handler = &Session::cmd_store, .needs_selected = true, .has_uid_form = true,
     .expunge_ok = false},
    {.name = "COPY", .handler = &Session::cmd_copy, .needs_selected = true, .has_uid_form = true},
    {.name = "MOVE", .handler = &Session::cmd_move, .needs_selected = true, .has_uid_form = true},
    {.name = "XNOOP", .handler = &Session::cmd_noop},
    {.name = "SORT", .handler = &Session::cmd_sort, .needs_selected = true, .has_uid_form = true,
     .expunge_ok = false},
    {.name = "THREAD", .handler = &Session::cmd_thread, .needs_selected = true, .has_uid_form = true,
     .expunge_ok = false},
    {.name = "GETQUOTAROOT", .handler = &Session::cmd_getquotaroot},
    {.name = "GETQUOTA", .handler = &Session::cmd_getquota},
    {.name = "SETQUOTA", .handler = &Session::cmd_setquota},
    {.name = "CANCELUPDATE", .handler = &Session::cmd_cancelupdate, .needs_selected = true},
    {.name = "GENURLAUTH", .handler = &Session::cmd_genurlauth},
    {.name = "RESETKEY", .handler = &Session::cmd_resetkey},
    {.name = "URLFETCH", .handler = &Session::cmd_urlfetch},
    {.name = "COMPRESS", .handler = &Session::cmd_compress},
    {.name = "NOTIFY", .handler = &Session::cmd_notify},
    {.name = "SETACL", .handler = &Session::cmd_setacl},
    {.name = "DELETEACL", .handler = &Session::cmd_deleteacl},
    {.name = "GETACL", .handler = &Session::cmd_getacl},
    {.name = "LISTRIGHTS", .handler = &Session::cmd_listrights},
    {.name = "MYRIGHTS", .handler = &Session::cmd_myrights},
}};

// Every verb of the table is in imapd/verbs.hpp, in the same order, and
// nothing else is: the one list imaplogin also uses.
constexpr bool matches_verb_list() {
  if (table.size() != authenticated_verbs.size()) return false;
  for (std::size_t i = 0; i < table.size(); ++i)
    if (table[i].name != authenticated_verbs[i]) return false;
  return true;
}
static_assert(matches_verb_list(), "imapd/verbs.hpp and the command table must list the same verbs");

}  // namespace

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : table)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace imapd
