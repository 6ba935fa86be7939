// authlib/protocol.hpp: the authdaemon socket protocol, as Courier's authlib
// speaks it (COURIER-COMPAT.md section 7), so that our services and
// Courier's can each talk to either daemon.
//
// Requests (one per connection), optionally after NAME=value metadata lines:
//   PRE <module> <service> <user>\n        look an account up (<module> "." = any)
//   AUTH <len>\n<payload of len bytes>     check a secret (authlib/sasl.hpp payload)
//   PASSWD service\tuser\told\tnew\t\n     change a password
//   ENUMERATE\n                            list accounts
//   REDEEM <service> <ticket>\n            a login ticket (authlib/tickets.hpp; uid 0 only)
// Replies:
//   account: KEY=value lines (USERNAME= or UID=, GID=, HOME=, ADDRESS=, NAME=,
//            MAILDIR=, QUOTA=, OPTIONS=) ended by ".\n"
//   FAIL\n   no such account or wrong password
//   OK\n     password changed
//   ENUMERATE: name\tuid\tgid\thome\tmaildir\toptions lines ended by ".\n"
//   a temporary failure closes the connection without any reply.
// We never send PASSWD= or PASSWD2=: a service has no use for the stored
// secret, and leaving it out means a client of the socket cannot harvest hashes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "authlib/module.hpp"
#include "lib/secret.hpp"

namespace authlib::protocol {

inline constexpr size_t max_line_bytes = 8192;
inline constexpr size_t max_metadata_lines = 32;
inline constexpr size_t max_auth_payload_bytes = 16384;
inline constexpr size_t max_reply_bytes = 64 * 1024;

struct Metadata {
  std::string name;
  std::string value;
};
struct PreRequest {
  std::string module;  // "." for any module
  std::string service;
  std::string user;
};
struct AuthHeader {
  size_t payload_bytes = 0;  // the payload follows the line
};
struct PasswdRequest {
  std::string service;
  std::string user;
  lib::Secret old_password;
  lib::Secret new_password;
};
struct EnumerateRequest {};
struct RedeemRequest {
  std::string service;
  std::string ticket;  // as sent; authlib/tickets.hpp checks its form
};

using Line = std::variant<Metadata, PreRequest, AuthHeader, PasswdRequest, EnumerateRequest, RedeemRequest>;

struct LineError {
  std::string message;  // what is wrong, for the log (never quotes a password)
};

// Parses one request line (without its "\n"). Errors: unknown command,
// wrong field count, empty fields, control characters, an AUTH length that is
// not a number or over max_auth_payload_bytes, a line over max_line_bytes.
std::variant<Line, LineError> parse_line(std::string_view line);

// The reply for a found account.
std::string format_account(const Account& account);
// One ENUMERATE line (without the final ".\n").
std::string format_enumerate_line(const Account& account);

// The client side: parses an account reply (everything up to and including
// the "." line). nullopt when it is malformed (no ".", a line without "=",
// no HOME, neither UID nor USERNAME, a non-numeric UID or GID).
std::optional<Account> parse_account_reply(std::string_view reply);
// Parses one ENUMERATE line; nullopt when malformed.
std::optional<Account> parse_enumerate_line(std::string_view line);

// Builds request lines, for the client library (values must not hold "\n";
// the caller checks).
std::string pre_request(std::string_view service, std::string_view user, std::string_view module = ".");
std::string auth_request_header(size_t payload_bytes);
std::string redeem_request(std::string_view service, std::string_view ticket);
lib::Secret passwd_request(std::string_view service, std::string_view user, const lib::Secret& old_password,
                           const lib::Secret& new_password);

}  // namespace authlib::protocol
