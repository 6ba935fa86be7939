// imapd/imap_url.hpp: IMAP URLs (RFC 5092) as CATENATE (RFC 4469) and
// URLAUTH (RFC 4467) use them: one message, or one section of it, of a
// mailbox on this server. Pure: text in, parts out; no I/O.
//
//   imap://user@host/INBOX.Sent;UIDVALIDITY=7/;UID=12/;SECTION=1.2/;PARTIAL=0.100
//       ;EXPIRE=2027-01-01T00:00:00Z;URLAUTH=user+fred:INTERNAL:<hex token>
//   /INBOX.Sent/;UID=12/;SECTION=HEADER        (relative: this session's account)
//
// Mailbox, user and section are percent-decoded (the mailbox is UTF-8).
// URLs that name no message (mailbox lists, searches "?...") are refused.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "imapd/lexer.hpp"

namespace imapd {

struct ImapUrl {
  bool absolute = false;     // "imap://..."; false: "/mailbox/;UID=..."
  std::string user;          // absolute: the decoded iuserinfo (";AUTH=..." dropped)
  std::string host;          // absolute: host, without the port
  std::string mailbox;       // decoded, UTF-8
  std::optional<std::uint32_t> uidvalidity;
  std::uint32_t uid = 0;
  std::string section;       // decoded ("1.2", "HEADER"); empty: the whole message
  std::optional<Partial> partial;
  std::optional<std::time_t> expire;  // ;EXPIRE= as a UTC instant
  // URLAUTH (RFC 4467 2): ";URLAUTH=access[:mechanism:token]".
  bool has_urlauth = false;
  std::string access;        // "anonymous", "authuser", "user+<id>", "submit+<id>" (id decoded)
  std::string mechanism;     // empty in a rump URL (GENURLAUTH's argument)
  std::string token;         // hex, as written
  std::string rump;          // the URL up to and including the access identifier
};

// Parses a URL; nullopt with a short reason in `error` (for NO [BADURL]).
// Limits: 8 KiB of text; UID and UIDVALIDITY nonzero 32-bit numbers.
std::optional<ImapUrl> parse_imap_url(std::string_view text, std::string& error);

// Whether the URL's user (user, or user@host) names `login`. Case matters
// in the local part, not in the host.
bool url_names_account(const ImapUrl& url, std::string_view login);

// The user id of "user+<id>" / "submit+<id>" access, else empty.
std::string access_user(std::string_view access);

// RFC 3339 date-time ("2027-01-01T00:00:00Z", "...+02:00", fractions
// allowed) as a UTC instant; nullopt when invalid.
std::optional<std::time_t> parse_rfc3339(std::string_view text);

}  // namespace imapd
