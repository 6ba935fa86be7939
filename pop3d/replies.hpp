// pop3d/replies.hpp: every reply text of pop3login and pop3d, in one place
// (STYLE.md 4). Each constant is a whole line without its CRLF.
//
// Extended response codes in brackets: RFC 2449 section 8 (IN-USE,
// LOGIN-DELAY), RFC 3206 (SYS/TEMP, SYS/PERM, AUTH). A client that knows them
// tells "wrong password" ([AUTH]) from "try again later" ([SYS/TEMP]).
#pragma once

#include <string_view>

namespace pop3d::reply {

// --- AUTHORIZATION (pop3login) ---------------------------------------------
inline constexpr std::string_view greeting = "+OK Hello there.";
inline constexpr std::string_view user_ok = "+OK Password required.";
inline constexpr std::string_view pass_without_user = "-ERR USER first, then PASS.";
inline constexpr std::string_view login_failed = "-ERR [AUTH] Login failed.";
inline constexpr std::string_view auth_failed = "-ERR [AUTH] Authentication failed.";
inline constexpr std::string_view too_many_failures =
    "-ERR [AUTH] Too many failed logins, closing the connection.";
inline constexpr std::string_view auth_cancelled = "-ERR Authentication cancelled.";
inline constexpr std::string_view auth_bad_response = "-ERR [AUTH] Invalid SASL response: ";
inline constexpr std::string_view auth_unknown_mechanism =
    "-ERR Unsupported authentication mechanism.";
inline constexpr std::string_view auth_no_initial_response =
    "-ERR This mechanism takes no initial response.";
inline constexpr std::string_view auth_list = "+OK Supported SASL mechanisms follow.";
inline constexpr std::string_view auth_mismatched_authzid =
    "-ERR [AUTH] Logging in as another user is not supported.";
inline constexpr std::string_view temporary_failure =
    "-ERR [SYS/TEMP] Temporary problem, please try again later.";
inline constexpr std::string_view account_unusable =
    "-ERR [SYS/TEMP] Your mailbox cannot be opened now; the administrator has been told.";
inline constexpr std::string_view tls_required = "-ERR [AUTH] TLS required to log in: use STLS first.";
inline constexpr std::string_view pop3_disabled = "-ERR [AUTH] POP3 access disabled for this account.";
inline constexpr std::string_view insecure_disabled =
    "-ERR [AUTH] POP3 access disabled via insecure connection: use STLS first.";
inline constexpr std::string_view stls_unavailable = "-ERR TLS support not available.";
inline constexpr std::string_view stls_begin = "+OK Begin SSL/TLS negotiation now.";
inline constexpr std::string_view stls_failed = "-ERR [SYS/TEMP] STLS failed: ";
inline constexpr std::string_view apop_unsupported = "-ERR APOP is not supported; use USER/PASS or AUTH.";
inline constexpr std::string_view login_quit = "+OK Better luck next time.";
inline constexpr std::string_view login_timeout = "-ERR Timeout, closing the connection.";

// --- TRANSACTION (pop3d) ---------------------------------------------------
inline constexpr std::string_view logged_in = "+OK logged in.";
inline constexpr std::string_view quit_ok = "+OK Bye-bye.";
inline constexpr std::string_view quit_partial =
    "-ERR [SYS/TEMP] Some deleted messages could not be removed; they will be back next time.";
inline constexpr std::string_view noop_ok = "+OK Yup.";
inline constexpr std::string_view dele_ok = "+OK Deleted.";
inline constexpr std::string_view rset_ok = "+OK Resurrected.";
inline constexpr std::string_view top_ok = "+OK headers follow.";
inline constexpr std::string_view uidl_ok = "+OK";
inline constexpr std::string_view no_such_message = "-ERR No such message.";
inline constexpr std::string_view message_deleted = "-ERR Message already deleted.";
inline constexpr std::string_view message_vanished =
    "-ERR Message was removed by another session.";
inline constexpr std::string_view message_unreadable =
    "-ERR [SYS/TEMP] Cannot open the message file; please try again later.";
inline constexpr std::string_view utf8_ok = "+OK UTF8 enabled";
inline constexpr std::string_view already_logged_in = "-ERR Already logged in.";
inline constexpr std::string_view not_logged_in = "-ERR Log in first (USER/PASS or AUTH).";
inline constexpr std::string_view maildir_locked =
    "-ERR [SYS/TEMP] Your account is temporarily unavailable (+t bit set on home directory).";
inline constexpr std::string_view maildir_unusable =
    "-ERR [SYS/TEMP] Your mailbox cannot be opened now; the administrator has been told.";
inline constexpr std::string_view idle_timeout = "-ERR Timeout, closing the connection.";

// --- both ------------------------------------------------------------------
inline constexpr std::string_view capa_ok = "+OK Here's what I can do:";
inline constexpr std::string_view line_too_long = "-ERR Command line too long.";
inline constexpr std::string_view bad_line = "-ERR Invalid characters in the command line.";
inline constexpr std::string_view too_many_errors = "-ERR Too many invalid commands, closing the connection.";
inline constexpr std::string_view err_prefix = "-ERR ";

// The IMPLEMENTATION capability (RFC 2449 section 6.9).
inline constexpr std::string_view implementation = "courier-suite";

}  // namespace pop3d::reply
