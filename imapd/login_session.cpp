// imapd/login_session.cpp: the not-authenticated state (see login_session.hpp).
#include "imapd/login_session.hpp"

#include <algorithm>
#include <cctype>

#include "imapd/command_reader.hpp"
#include "imapd/imap_string.hpp"
#include "imapd/lexer.hpp"
#include "imapd/replies.hpp"
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

// Reads one SASL response line; nullopt after cancel or trouble (replied).
std::optional<std::string> sasl_line(Ctx& c, const std::string& tag, std::string_view challenge_b64) {
  send(c, "+ " + std::string(challenge_b64) + "\r\n");
  std::string line;
  auto st = c.in.read_line(line);
  if (st != lib::io::ReadStatus::ok) {
    if (st == lib::io::ReadStatus::too_long) send(c, reply::tagged(tag, "BAD", "SASL response too long."));
    return std::nullopt;
  }
  if (sasl::is_cancel(line)) {
    send(c, reply::tagged(tag, "BAD", "AUTHENTICATE cancelled."));
    return std::nullopt;
  }
  return line;
}

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
  auto mech = sasl::mechanism_from_name(cmd.args[0].str());
  std::string mech_name = mech ? std::string(sasl::mechanism_name(*mech)) : std::string();
  const auto& caps = c.s.tls_active ? c.s.capability_tls : c.s.capability;
  bool offered = mech && std::any_of(caps.begin(), caps.end(), [&](const std::string& w) {
                   if (w.size() <= 5) return false;
                   std::string up = w;
                   for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
                   return up == "AUTH=" + mech_name;
                 });
  if (mech && *mech == sasl::Mechanism::external) offered = !c.external_identity.empty();
  if (!offered) {
    send(c, reply::tagged(tag, "NO", "Unsupported authentication mechanism."));
    return Verdict::continue_session;
  }
  std::optional<std::string> initial;
  if (cmd.args.size() == 2) initial = std::string(cmd.args[1].str());
  switch (*mech) {
    case sasl::Mechanism::plain: {
      std::string b64;
      if (initial) {
        b64 = *initial;
      } else {
        auto l = sasl_line(c, tag, "");
        if (!l) return Verdict::continue_session;
        b64 = *l;
      }
      auto raw = b64 == "=" ? sasl::Parsed<lib::Secret>(lib::Secret()) : sasl::decode_base64_secret(b64);
      if (!raw) return failed(c, tag, "Invalid SASL response.", std::string(sasl::problem_text(raw.problem())));
      auto creds = sasl::parse_plain(raw->reveal());
      if (!creds) return failed(c, tag, "Invalid SASL response.", std::string(sasl::problem_text(creds.problem())));
      if (!creds->authzid.empty() && creds->authzid != creds->authcid)
        return failed(c, tag, "Proxy authorization is not supported.", "PLAIN authzid differs: " + creds->authzid);
      std::string user = with_domain(c.s, creds->authcid);
      return judge(c, tag, c.hooks.login(user, creds->password), user);
    }
    case sasl::Mechanism::login: {
      sasl::LoginExchange ex;
      if (initial) {
        auto r = ex.respond(*initial == "=" ? "" : *initial);
        if (!r) return failed(c, tag, "Invalid SASL response.", std::string(sasl::problem_text(r.problem())));
      }
      while (!ex.done()) {
        auto l = sasl_line(c, tag, ex.challenge());
        if (!l) return Verdict::continue_session;
        auto r = ex.respond(*l);
        if (!r) return failed(c, tag, "Invalid SASL response.", std::string(sasl::problem_text(r.problem())));
      }
      std::string user = with_domain(c.s, ex.username());
      return judge(c, tag, c.hooks.login(user, ex.password()), user);
    }
    case sasl::Mechanism::cram_md5:
    case sasl::Mechanism::cram_sha1:
    case sasl::Mechanism::cram_sha256: {
      if (initial) {
        send(c, reply::tagged(tag, "BAD", "CRAM does not take an initial response."));
        return Verdict::continue_session;
      }
      sasl::CramHash hash = *mech == sasl::Mechanism::cram_md5    ? sasl::CramHash::md5
                            : *mech == sasl::Mechanism::cram_sha1 ? sasl::CramHash::sha1
                                                                  : sasl::CramHash::sha256;
      auto challenge = sasl::make_cram_challenge(c.s.hostname);
      if (!challenge) {
        lib::log::error("CRAM challenge: %s", challenge.error().message.c_str());
        send(c, reply::tagged(tag, "NO", reply::temporary_failure));
        return Verdict::continue_session;
      }
      std::string challenge_b64 = sasl::encode_base64(*challenge);
      auto l = sasl_line(c, tag, challenge_b64);
      if (!l) return Verdict::continue_session;
      auto parsed = sasl::decode_cram(hash, challenge_b64, *l);
      if (!parsed) return failed(c, tag, "Invalid SASL response.", std::string(sasl::problem_text(parsed.problem())));
      return judge(c, tag, c.hooks.cram(hash, challenge_b64, *l), parsed->username);
    }
    case sasl::Mechanism::external: {
      std::string b64;
      if (initial) {
        b64 = *initial;
      } else {
        auto l = sasl_line(c, tag, "");
        if (!l) return Verdict::continue_session;
        b64 = *l;
      }
      std::string authz;
      if (b64 != "=" && !b64.empty()) {
        auto raw = sasl::decode_base64(b64);
        if (!raw) return failed(c, tag, "Invalid SASL response.", std::string(sasl::problem_text(raw.problem())));
        auto e = sasl::parse_external(*raw);
        if (!e) return failed(c, tag, "Invalid SASL response.", std::string(sasl::problem_text(e.problem())));
        authz = *e;
      }
      if (!authz.empty() && authz != c.external_identity)
        return failed(c, tag, "Proxy authorization is not supported.", "EXTERNAL authzid differs from certificate");
      return judge(c, tag, c.hooks.lookup(c.external_identity), c.external_identity);
    }
  }
  return Verdict::continue_session;
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

void do_id(Ctx& c, const ParsedCommand& cmd) {
  if (cmd.args.size() != 1 || !(cmd.args[0].is_list() || cmd.args[0].kind == Value::Kind::nil)) {
    send(c, reply::tagged(cmd.tag, "BAD", "Syntax: ID ( field value ... ) or ID NIL."));
    return;
  }
  send(c, "* ID (\"name\" \"Courier-compatible imapd\")\r\n" + reply::tagged(cmd.tag, "OK", "ID completed."));
}

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
  limits.max_message_bytes = 8192;
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
    if (cmd.uid) {
      send(c, reply::tagged(cmd.tag, "BAD", reply::not_in_this_state));
    } else if (n == "CAPABILITY") {
      send(c, "* " + capability_line(s, false, !c.external_identity.empty()) + "\r\n" +
                   reply::tagged(cmd.tag, "OK", "CAPABILITY completed."));
    } else if (n == "NOOP") {
      send(c, reply::tagged(cmd.tag, "OK", "NOOP completed."));
    } else if (n == "LOGOUT") {
      send(c, "* BYE " + std::string(reply::logout) + "\r\n" + reply::tagged(cmd.tag, "OK", "LOGOUT completed."));
      return std::nullopt;
    } else if (n == "ID") {
      do_id(c, cmd);
    } else if (n == "STARTTLS") {
      v = do_starttls(c, cmd);
    } else if (n == "LOGIN") {
      v = do_login(c, cmd);
    } else if (n == "AUTHENTICATE") {
      v = do_authenticate(c, cmd);
    } else if (n == "SELECT" || n == "EXAMINE" || n == "LIST" || n == "LSUB" || n == "STATUS" ||
               n == "CREATE" || n == "DELETE" || n == "RENAME" || n == "SUBSCRIBE" || n == "UNSUBSCRIBE" ||
               n == "APPEND" || n == "FETCH" || n == "STORE" || n == "SEARCH" || n == "COPY" ||
               n == "EXPUNGE" || n == "CLOSE" || n == "CHECK" || n == "IDLE" || n == "NAMESPACE" ||
               n == "ENABLE" || n == "UNSELECT" || n == "MOVE") {
      send(c, reply::tagged(cmd.tag, "BAD", "Please log in first."));
    } else {
      send(c, reply::tagged(cmd.tag, "BAD", reply::unknown_command));
    }
    if (v == Verdict::logged_in) return std::move(c.outcome);
    if (v == Verdict::end_session) return std::nullopt;
  }
}

}  // namespace imapd
