// imapd/replies.hpp: the reply texts of imaplogin and imapd in one place
// (STYLE.md 4), so wording stays consistent and Courier-like ("OK LOGIN Ok.").
#pragma once

#include <string>
#include <string_view>

namespace imapd::reply {

inline constexpr std::string_view greeting_text = "Courier-compatible IMAP server ready.";
inline constexpr std::string_view login_ok = "LOGIN Ok.";
inline constexpr std::string_view login_failed = "Login failed.";
inline constexpr std::string_view login_disabled = "LOGIN disabled: use STARTTLS first.";
inline constexpr std::string_view too_many_failures = "Too many failed logins.";
inline constexpr std::string_view temporary_failure = "Temporary authentication failure, try again later.";
inline constexpr std::string_view account_disabled = "IMAP access is disabled for this account.";
inline constexpr std::string_view insecure_disabled = "This account requires an encrypted connection (STARTTLS).";
inline constexpr std::string_view not_in_this_state = "Command not valid in this state.";
inline constexpr std::string_view unknown_command = "Unknown command.";
inline constexpr std::string_view logout = "Courier-compatible IMAP server shutting down.";
inline constexpr std::string_view autologout = "Autologout; idle for too long.";
inline constexpr std::string_view no_mailbox = "No mailbox selected.";
inline constexpr std::string_view read_only = "Mailbox is read-only.";
inline constexpr std::string_view no_such_mailbox = "[NONEXISTENT] Mailbox does not exist.";
inline constexpr std::string_view server_error = "[SERVERBUG] Server error, see the log.";
inline constexpr std::string_view expunge_issued = "[EXPUNGEISSUED] Some messages were expunged by another session.";

// imaplogin: AUTHENTICATE and commands before a login.
inline constexpr std::string_view auth_unsupported_mechanism = "Unsupported authentication mechanism.";
inline constexpr std::string_view auth_no_initial_response = "CRAM does not take an initial response.";
inline constexpr std::string_view auth_cancelled = "AUTHENTICATE cancelled.";
inline constexpr std::string_view auth_bad_response = "Invalid SASL response.";
inline constexpr std::string_view auth_no_proxy = "Proxy authorization is not supported.";
inline constexpr std::string_view auth_response_too_long = "SASL response too long.";
inline constexpr std::string_view log_in_first = "Please log in first.";

// Shared by several commands.
inline constexpr std::string_view invalid_sequence_set = "Invalid sequence set.";
inline constexpr std::string_view invalid_flag = "Invalid flag.";
inline constexpr std::string_view invalid_system_flag = "Invalid system flag.";
inline constexpr std::string_view invalid_keyword = "Invalid keyword.";
inline constexpr std::string_view trycreate = "[TRYCREATE] Mailbox does not exist.";
inline constexpr std::string_view cannot_read_subscriptions = "Cannot read subscriptions.";
inline constexpr std::string_view cannot_save_subscriptions = "Cannot save subscriptions, see the log.";
inline constexpr std::string_view already_exists = "[ALREADYEXISTS] Mailbox already exists.";
inline constexpr std::string_view invalid_store_item = "Invalid STORE item.";

// "<VERB> completed." (RFC 3501's examples), the text of a command's tagged OK.
inline std::string completed(std::string_view verb) { return std::string(verb) + " completed."; }

// "<tag> OK <text>\r\n"
inline std::string tagged(std::string_view tag, std::string_view status, std::string_view text) {
  std::string out;
  out.reserve(tag.size() + status.size() + text.size() + 4);
  out += tag;
  out += ' ';
  out += status;
  out += ' ';
  out += text;
  out += "\r\n";
  return out;
}

}  // namespace imapd::reply
