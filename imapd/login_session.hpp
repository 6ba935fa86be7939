// imapd/login_session.hpp: the not-authenticated state of IMAP (RFC 3501 6.1,
// 6.2): CAPABILITY, NOOP, LOGOUT, ID (RFC 2971), STARTTLS, LOGIN and
// AUTHENTICATE with PLAIN, LOGIN, CRAM-MD5 and EXTERNAL, SASL-IR (RFC 4959).
// What the session needs from the outside (authdaemond, TLS, a clock) comes in
// through LoginHooks, so tests run it on a socketpair with fake hooks.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "authlib/client.hpp"
#include "imapd/settings.hpp"
#include "lib/io.hpp"
#include "lib/result.hpp"
#include "lib/secret.hpp"

namespace imapd {

// The longest command accepted before login, its literals included: clients
// send long ID lists (imaptest's `id` script sends 31.8 KB). imaplogin reads
// lines of up to this many bytes; a longer command gets BAD or NO [TOOBIG].
inline constexpr std::size_t max_login_command_bytes = 64 * 1024;

struct LoginHooks {
  // AUTH login / cram against authdaemond; PRE for EXTERNAL.
  std::function<authlib::AuthResult(std::string_view user, const lib::Secret& password)> login;
  std::function<authlib::AuthResult(authlib::sasl::CramHash hash, std::string_view challenge_b64,
                                    std::string_view response_b64)>
      cram;
  std::function<authlib::AuthResult(std::string_view user)> lookup;
  // Starts TLS on the connection (fd 0/1 replaced); empty when unavailable.
  // Returns the identity of a verified client certificate, if any (EXTERNAL).
  std::function<lib::Result<std::string>()> start_tls;
  // Waits after a failed login (tests pass a no-op).
  std::function<void(std::chrono::milliseconds)> delay;
};

struct LoginOutcome {
  authlib::Account account;
  std::string login;  // the name the client logged in with (after DEFDOMAIN)
  std::string tag;    // the LOGIN/AUTHENTICATE tag: imapd sends its tagged OK
};

// Runs the session until a login succeeds (returns it, nothing yet written for
// the tagged OK), or the client logs out, times out or fails too often
// (nullopt, after the BYE). `settings.tls_active` is updated after STARTTLS.
// `external_identity` is the client certificate identity when TLS was on from
// the start (imapd-ssl).
std::optional<LoginOutcome> run_login_session(Settings& settings, lib::io::Reader& reader,
                                              lib::io::Writer& writer, const LoginHooks& hooks,
                                              std::string external_identity = {});

// Whether Courier account OPTIONS ("disableimap=1,group=x") allow IMAP here.
// Returns an empty string if allowed, else the reply text.
std::string_view check_account_options(std::string_view options, bool tls_active);

}  // namespace imapd
