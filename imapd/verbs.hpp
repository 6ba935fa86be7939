// imapd/verbs.hpp: the one list of the verbs imapd serves after a login
// (RFC 3501 6.1-6.4 and the extensions). imapd's command table
// (command_table.cpp) is checked against it at compile time; imaplogin
// answers "Please log in first." to them (login_session.cpp) without linking
// imapd's session code.
#pragma once

#include <algorithm>
#include <array>
#include <string_view>

namespace imapd {

inline constexpr std::array<std::string_view, 47> authenticated_verbs = {
    "CAPABILITY", "NOOP",   "LOGOUT", "ID",    "ENABLE", "NAMESPACE", "STARTTLS", "LOGIN",
    "AUTHENTICATE", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE",
    "LIST",       "LSUB",   "STATUS", "APPEND", "IDLE", "CHECK",     "CLOSE",    "UNSELECT",
    "EXPUNGE",    "SEARCH", "FETCH",  "STORE", "COPY",   "MOVE",      "XNOOP",
    "SORT",       "THREAD", "GETQUOTAROOT", "GETQUOTA", "SETQUOTA",
    "CANCELUPDATE",
    "GENURLAUTH", "RESETKEY", "URLFETCH", "COMPRESS", "NOTIFY",
    "SETACL", "DELETEACL", "GETACL", "LISTRIGHTS", "MYRIGHTS",
};

// Whether an upper-case verb is one of authenticated_verbs.
constexpr bool is_authenticated_verb(std::string_view verb) {
  return std::find(authenticated_verbs.begin(), authenticated_verbs.end(), verb) != authenticated_verbs.end();
}

}  // namespace imapd
