// imapd/login_session.cpp: the not-authenticated state (see login_session.hpp).
#include "imapd/login_session.hpp"

#include <algorithm>

#include "authlib/sasl_server.hpp"
#include "imapd/command_reader.hpp"
#include "imapd/imap_string.hpp"
#include "imapd/lexer.hpp"
#include "imapd/replies.hpp"
#include "imapd/verbs.hpp"
#include "lib/ascii.hpp"
#include "lib/log.hpp"

namespace imapd {
namespace {

namespace sasl = authlib::sasl;

enum class Verdict { continue_session, logged_in, end_session };

struct Ctx {
  Settings& s;
  lib::io::Reader& in;
  lib::io::Writer& out;
  const LoginHooks& hooks;
  std::string external_identity;
  int failures = 0;
  std::optional<LoginOutcome> outcome;
};

void send(Ctx& c, std::string_view text) {
  c.out.append(text);
  (void)c.out.flush();
}

std::string with_domain(const Settings& s, std::string_view user) {
  std::string u(user);
  if (!s.defdomain.empty() && u.find('@') == std::string::npos) u += "@" + s.defdomain;
  return u;
}

// After a failure: the delay, then NO; or BYE once the cap is reached.
Verdict failed(Ctx& c, const std::string& tag, std::string_view text, const std::string& why) {
  ++c.failures;
  lib::log::info("LOGIN FAILED, ip=[%s], reason=%s", std::getenv("TCPREMOTEIP") ? std::getenv("TCPREMOTEIP") : "",
                 lib::log::sanitize(why, 300).c_str());
  if (c.hooks.delay) c.hooks.delay(c.s.bad_login_delay);
  send(c, reply::tagged(tag, "NO", text));
  if (c.failures >= c.s.max_bad_logins) {
    send(c, std::string("* BYE ") + std::string(reply::too_many_failures) + "\r\n");
    return Verdict::end_session;
  }
  return Verdict::continue_session;
}

Verdict accepted(Ctx& c, const std::string& tag, authlib::AuthResult r, std::string login) {
  std::string_view refusal = check_account_options(r.account.options, c.s.tls_active);
  if (!refusal.empty()) return failed(c, tag, refusal, "account options refuse IMAP: " + login);
  c.outcome = LoginOutcome{std::move(r.account), std::move(login), tag};
  return Verdict::logged_in;
}

Verdict judge(Ctx& c, const std::string& tag, authlib::AuthResult r, std::string login) {
  switch (r.status) {
    case authlib::AuthStatus::ok:
      return accepted(c, tag, std::move(r), std::move(login));
    case authlib::AuthStatus::temporary:
      lib::log::error("authentication of %s: %s", lib::log::sanitize(login, 200).c_str(), r.error.c_str());
      if (c.hooks.delay) c.hooks.delay(c.s.bad_login_delay);
      send(c, reply::tagged(tag, "NO", std::string("[UNAVAILABLE] ") + std::string(reply::temporary_failure)));
      return Verdict::continue_session;
    case authlib::AuthStatus::rejected:
      break;
  }
  return failed(c, tag, std::string("[AUTHENTICATIONFAILED] ") + std::string(reply::login_failed),
                login + ": " + r.error);
}

bool login_disabled(const Ctx& c) { return c.s.tls_required && !c.s.tls_active; }

// LoginHooks as the authlib::Authenticator the SASL exchange asks.
class HookAuthenticator final : public authlib::Authenticator {
 public:
  explicit HookAuthenticator(const LoginHooks& hooks) : hooks_(hooks) {}
  authlib::AuthResult login(std::string_view, std::string_view user, const lib::Secret& password) override {
    return hooks_.login(user, password);
  }
  authlib::AuthResult cram(std::string_view, sasl::CramHash hash, std::string_view challenge_b64,
                           std::string_view response_b64) override {
    return hooks_.cram(hash, challenge_b64, response_b64);
  }
  authlib::AuthResult lookup(std::string_view, std::string_view user) override { return hooks_.lookup(user); }

 private:
  const LoginHooks& hooks_;
};

// AUTHENTICATE's continuation: "+ <b64>" out, one line in. A line too long
// gets its BAD here and ends the exchange without a failure counted.
class ContinuationLines final : public authlib::SaslTransport {
 public:
  ContinuationLines(Ctx& c, const std::string& tag) : c_(c), tag_(tag) {}
  void send_challenge(std::string_view challenge_b64) override {
    send(c_, "+ " + std::string(challenge_b64) + "\r\n");
  }
  std::optional<std::string> read_response() override {
    std::string line;
    auto st = c_.in.read_line(line);
    if (st == lib::io::ReadStatus::ok) return line;
    if (st == lib::io::ReadStatus::too_long) send(c_, reply::tagged(tag_, "BAD", reply::auth_response_too_long));
    return std::nullopt;
  }

 private:
  Ctx& c_;
  const std::string& tag_;
};

Verdict do_authenticate(Ctx& c, const ParsedCommand& cmd) {
  const std::string& tag = cmd.tag;
  if (cmd.args.empty() || cmd.args.size() > 2 || !cmd.args[0].is_atom_like()) {
    send(c, reply::tagged(tag, "BAD", "Syntax: AUTHENTICATE mechanism [initial-response]."));
    return Verdict::continue_session;
  }
  if (login_disabled(c)) {
    send(c, reply::tagged(tag, "NO", std::string("[PRIVACYREQUIRED] ") + std::string(reply::login_disabled)));
    return Verdict::continue_session;
  }
  authlib::SaslRequest request;
  std::string mechanism(cmd.args[0].str());
  request.mechanism = mechanism;
  std::string initial;
  if (cmd.args.size() == 2) {
    initial = std::string(cmd.args[1].str());
    request.initial_response = initial;
  }
  // What CAPABILITY announced ("AUTH=PLAIN"...); EXTERNAL whenever the client
  // certificate names an identity.
  for (const auto& w : c.s.tls_active ? c.s.capability_tls : c.s.capability) {
    if (w.size() <= 5 || !lib::ascii::istarts_with(w, "AUTH=")) continue;
    auto m = sasl::mechanism_from_name(std::string_view(w).substr(5));
    if (m && *m != sasl::Mechanism::external) request.offered.push_back(*m);
  }
  if (!c.external_identity.empty()) request.offered.push_back(sasl::Mechanism::external);
  request.external_identity = c.external_identity;
  request.service = "imap";
  request.hostname = c.s.hostname;
  request.qualify_user = [&c](std::string_view user) { return with_domain(c.s, user); };
  HookAuthenticator auth(c.hooks);
  ContinuationLines lines(c, tag);
  auto o = authlib::run_sasl_exchange(request, lines, auth);
  switch (o.status) {
    case authlib::SaslStatus::not_offered:
      send(c, reply::tagged(tag, "NO", reply::auth_unsupported_mechanism));
      return Verdict::continue_session;
    case authlib::SaslStatus::initial_response_refused:
      send(c, reply::tagged(tag, "BAD", reply::auth_no_initial_response));
      return Verdict::continue_session;
    case authlib::SaslStatus::cancelled:
      send(c, reply::tagged(tag, "BAD", reply::auth_cancelled));
      return Verdict::continue_session;
    case authlib::SaslStatus::connection_lost:
      return Verdict::continue_session;
    case authlib::SaslStatus::malformed:
      return failed(c, tag, reply::auth_bad_response, o.reason);
    case authlib::SaslStatus::authorization_refused:
      return failed(c, tag, reply::auth_no_proxy, o.mechanism + ": " + o.reason);
    case authlib::SaslStatus::temporary_failure:
      return judge(c, tag, {authlib::AuthStatus::temporary, {}, o.reason}, o.user);
    case authlib::SaslStatus::rejected:
      return judge(c, tag, {authlib::AuthStatus::rejected, {}, o.reason}, o.user);
    case authlib::SaslStatus::authenticated:
      break;
  }
  return judge(c, tag, {authlib::AuthStatus::ok, std::move(o.account), {}}, o.user);
}

Verdict do_login(Ctx& c, const ParsedCommand& cmd) {
  if (cmd.args.size() != 2 || !cmd.args[0].is_astring() || !cmd.args[1].is_astring()) {
    send(c, reply::tagged(cmd.tag, "BAD", "Syntax: LOGIN user password."));
    return Verdict::continue_session;
  }
  if (login_disabled(c)) {
    send(c, reply::tagged(cmd.tag, "NO", std::string("[PRIVACYREQUIRED] ") + std::string(reply::login_disabled)));
    return Verdict::continue_session;
  }
  std::string user = with_domain(c.s, cmd.args[0].str());
  lib::Secret password(cmd.args[1].str());
  if (user.empty() || password.empty() || user.size() > sasl::max_identity_bytes ||
      password.size() > sasl::max_password_bytes)
    return failed(c, cmd.tag, std::string("[AUTHENTICATIONFAILED] ") + std::string(reply::login_failed),
                  "empty or oversized user name or password");
  return judge(c, cmd.tag, c.hooks.login(user, password), user);
}

Verdict do_starttls(Ctx& c, const ParsedCommand& cmd) {
  if (!cmd.args.empty()) {
    send(c, reply::tagged(cmd.tag, "BAD", "STARTTLS takes no arguments."));
    return Verdict::continue_session;
  }
  if (c.s.tls_active || !c.s.starttls || !c.hooks.start_tls) {
    send(c, reply::tagged(cmd.tag, "NO", "TLS is not available here."));
    return Verdict::continue_session;
  }
  send(c, reply::tagged(cmd.tag, "OK", "Begin TLS negotiation now."));
  // RFC 3501 6.2.1 / RFC 2595: anything the client pipelined after STARTTLS
  // was sent in clear text and must not be taken as coming through TLS.
  c.in.discard_buffered();
  auto r = c.hooks.start_tls();
  if (!r) {
    lib::log::error("STARTTLS failed: %s", r.error().message.c_str());
    return Verdict::end_session;
  }
  c.s.tls_active = true;
  c.external_identity = *r;
  return Verdict::continue_session;
}

Verdict do_id(Ctx& c, const ParsedCommand& cmd) {
  if (cmd.args.size() != 1 || !(cmd.args[0].is_list() || cmd.args[0].kind == Value::Kind::nil)) {
    send(c, reply::tagged(cmd.tag, "BAD", "Syntax: ID ( field value ... ) or ID NIL."));
    return Verdict::continue_session;
  }
  send(c, "* ID (\"name\" \"Courier-compatible imapd\")\r\n" + reply::tagged(cmd.tag, "OK", reply::completed("ID")));
  return Verdict::continue_session;
}

Verdict do_capability(Ctx& c, const ParsedCommand& cmd) {
  send(c, "* " + capability_line(c.s, false, !c.external_identity.empty()) + "\r\n" +
              reply::tagged(cmd.tag, "OK", reply::completed("CAPABILITY")));
  return Verdict::continue_session;
}

Verdict do_noop(Ctx& c, const ParsedCommand& cmd) {
  send(c, reply::tagged(cmd.tag, "OK", reply::completed("NOOP")));
  return Verdict::continue_session;
}

Verdict do_logout(Ctx& c, const ParsedCommand& cmd) {
  send(c, "* BYE " + std::string(reply::logout) + "\r\n" + reply::tagged(cmd.tag, "OK", reply::completed("LOGOUT")));
  return Verdict::end_session;
}

// The commands of the not-authenticated state (RFC 3501 6.1, 6.2).
struct LoginCommand {
  std::string_view name;
  Verdict (*handler)(Ctx&, const ParsedCommand&);
};
constexpr LoginCommand login_commands[] = {
    {"CAPABILITY", do_capability}, {"NOOP", do_noop},         {"LOGOUT", do_logout},
    {"ID", do_id},                 {"STARTTLS", do_starttls}, {"LOGIN", do_login},
    {"AUTHENTICATE", do_authenticate},
};

}  // namespace

std::string_view check_account_options(std::string_view options, bool tls_active) {
  std::size_t pos = 0;
  while (pos <= options.size()) {
    std::size_t comma = options.find(',', pos);
    std::string_view opt = options.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (opt == "disableimap=1") return reply::account_disabled;
    if (opt == "disableinsecureimap=1" && !tls_active) return reply::insecure_disabled;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return {};
}

std::optional<LoginOutcome> run_login_session(Settings& s, lib::io::Reader& in, lib::io::Writer& out,
                                              const LoginHooks& hooks, std::string external_identity) {
  Ctx c{s, in, out, hooks, std::move(external_identity), 0, std::nullopt};
  if (!s.starttls || !hooks.start_tls) s.starttls = false;
  send(c, "* OK [" + capability_line(s, false, !c.external_identity.empty()) + "] " + std::string(reply::greeting_text) + "\r\n");
  CommandLimits limits;
  limits.max_literal_bytes = 8192;
  // The whole command (line and literals) is bounded by max_message_bytes + 2 * max_literal_bytes.
  limits.max_message_bytes = max_login_command_bytes - 2 * limits.max_literal_bytes;
  limits.max_literals = 4;
  limits.discard_limit_bytes = 65536;
  std::string command, why;
  for (;;) {
    auto st = read_command(in, out, limits, command, why);
    if (st == CommandStatus::rejected) {
      if (++c.failures >= s.max_bad_logins * 3) {
        send(c, "* BYE Too many errors.\r\n");
        return std::nullopt;
      }
      continue;
    }
    if (st == CommandStatus::timeout) {
      send(c, "* BYE " + std::string(reply::autologout) + "\r\n");
      return std::nullopt;
    }
    if (st != CommandStatus::ok) return std::nullopt;
    ParsedCommand cmd = parse_command(command);
    if (!cmd.ok()) {
      send(c, reply::tagged(cmd.tag.empty() ? "*" : cmd.tag, "BAD", cmd.error));
      if (++c.failures >= s.max_bad_logins * 3) {
        send(c, "* BYE Too many errors.\r\n");
        return std::nullopt;
      }
      continue;
    }
    Verdict v = Verdict::continue_session;
    const std::string& n = cmd.name;
    const auto* entry = std::find_if(std::begin(login_commands), std::end(login_commands),
                                     [&](const LoginCommand& e) { return e.name == n; });
    if (cmd.uid) {
      send(c, reply::tagged(cmd.tag, "BAD", reply::not_in_this_state));
    } else if (entry != std::end(login_commands)) {
      v = entry->handler(c, cmd);
    } else if (is_authenticated_verb(n)) {
      send(c, reply::tagged(cmd.tag, "BAD", reply::log_in_first));
    } else {
      send(c, reply::tagged(cmd.tag, "BAD", reply::unknown_command));
    }
    if (v == Verdict::logged_in) return std::move(c.outcome);
    if (v == Verdict::end_session) return std::nullopt;
  }
}

}  // namespace imapd
