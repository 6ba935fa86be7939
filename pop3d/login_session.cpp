// pop3d/login_session.cpp: see login_session.hpp.
#include "pop3d/login_session.hpp"

#include <string.h>  // explicit_bzero: glibc, so that pop3login loads no libcrypto (issue 16)

#include <algorithm>
#include <array>

#include "lib/log.hpp"
#include "pop3d/capability.hpp"
#include "pop3d/replies.hpp"

namespace pop3d {

namespace sasl = authlib::sasl;

namespace {

void wipe(std::string& s) {
  if (!s.empty()) explicit_bzero(s.data(), s.size());
  s.clear();
}


}  // namespace

// ---------------------------------------------------------------------------
// LoginSession

std::string_view login_end_text(LoginEnd end) noexcept {
  switch (end) {
    case LoginEnd::logged_in: return "logged in";
    case LoginEnd::quit: return "quit";
    case LoginEnd::disconnected: return "disconnected";
    case LoginEnd::timeout: return "timeout";
    case LoginEnd::too_many_failures: return "too many failed logins";
    case LoginEnd::too_many_errors: return "too many invalid commands";
    case LoginEnd::temporary_failure: return "authentication temporarily unavailable";
    case LoginEnd::tls_failed: return "TLS handshake failed";
  }
  return "?";
}

LoginSession::LoginSession(LoginSettings settings, Authenticator& auth, TlsStarter tls, Sleeper sleep)
    : settings_(std::move(settings)), auth_(auth), tls_(std::move(tls)), sleep_(std::move(sleep)) {
  if (!tls_) settings_.starttls_enabled = false;
}

void LoginSession::start_io(int in_fd, int out_fd) {
  lib::io::ReaderOptions ro;
  ro.max_line_bytes = max_login_line_bytes;
  int timeout_ms = static_cast<int>(settings_.login_timeout.count() * 1000);
  ro.read_timeout_ms = timeout_ms;
  ro.idle_timeout_ms = timeout_ms;
  // RFC 1939 wants CRLF; Courier (and telnet users) also get by with LF.
  ro.line_ending = lib::io::LineEnding::lf_lenient;
  ro.reject_bare_cr = true;
  ro.reject_nul = true;
  reader_ = std::make_unique<lib::io::Reader>(in_fd, ro);
  lib::io::WriterOptions wo;
  wo.write_timeout_ms = timeout_ms;
  writer_ = std::make_unique<lib::io::Writer>(out_fd, wo);
}

void LoginSession::send(std::string_view line) {
  writer_->append(line);
  writer_->append("\r\n");
}

std::string LoginSession::peer_text() const {
  return "ip=[" + settings_.peer.remote_ip + "], port=[" + settings_.peer.remote_port + "]";
}

std::optional<LoginSuccess> LoginSession::run(int in_fd, int out_fd) {
  start_io(in_fd, out_fd);
  lib::log::debug_if("DEBUG_LOGIN", 1, "Connection, %s", peer_text().c_str());
  send(reply::greeting);
  int errors = 0;
  int commands = 0;
  std::string line;
  for (;;) {
    // PIPELINING: answer a whole group of commands with one write.
    if (reader_->buffered() == 0 && !writer_->flush()) {
      end_ = LoginEnd::disconnected;
      return std::nullopt;
    }
    auto status = reader_->read_line(line);
    bool error = false;
    switch (status) {
      case lib::io::ReadStatus::ok:
      case lib::io::ReadStatus::too_long:
      case lib::io::ReadStatus::bare_cr:
      case lib::io::ReadStatus::bare_lf:
      case lib::io::ReadStatus::nul_byte: {
        if (status == lib::io::ReadStatus::ok)
          lib::log::debug_if("DEBUG_LOGIN", 2, "command: %s", lib::log::mask_auth_line(line).c_str());
        auto checked = check_line(status, line, State::authorization);
        if (!checked.command) {
          wipe(line);
          error = true;
          send(checked.refusal);
          break;
        }
        const Command& cmd = *checked.command;
        Step step = dispatch(cmd);
        wipe(line);
        if (step == Step::logged_in) {
          // What came in behind the login command belongs to pop3d.
          size_t n = reader_->buffered();
          if (n > 0 && reader_->read_exact(n, pipelined_) != lib::io::ReadStatus::ok) pipelined_.clear();
          if (!writer_->flush()) {
            end_ = LoginEnd::disconnected;
            return std::nullopt;
          }
          end_ = LoginEnd::logged_in;
          return std::move(success_);
        }
        if (step == Step::close) {
          (void)writer_->flush();
          return std::nullopt;
        }
        if (++commands > max_login_commands) {
          send(reply::too_many_errors);
          (void)writer_->flush();
          end_ = LoginEnd::too_many_errors;
          return std::nullopt;
        }
        errors = 0;
        break;
      }
      case lib::io::ReadStatus::eof:
      case lib::io::ReadStatus::error:
      case lib::io::ReadStatus::aborted:
        wipe(line);
        end_ = LoginEnd::disconnected;
        return std::nullopt;
      case lib::io::ReadStatus::timeout:
        send(reply::login_timeout);
        (void)writer_->flush();
        end_ = LoginEnd::timeout;
        return std::nullopt;
    }
    // A refused line may leave its rest buffered, which the next read skips:
    // the reply must not wait for that.
    if (error) (void)writer_->flush();
    if (error && ++errors >= max_consecutive_errors) {
      send(reply::too_many_errors);
      (void)writer_->flush();
      end_ = LoginEnd::too_many_errors;
      lib::log::info("DISCONNECTED, %s, reason=too many invalid commands", peer_text().c_str());
      return std::nullopt;
    }
  }
}

LoginSession::Step LoginSession::dispatch(const Command& cmd) {
  struct Entry {
    Verb verb;
    Handler handler;
  };
  static constexpr std::array<Entry, 8> table{{
      {Verb::user, &LoginSession::cmd_user},
      {Verb::pass, &LoginSession::cmd_pass},
      {Verb::auth, &LoginSession::cmd_auth},
      {Verb::stls, &LoginSession::cmd_stls},
      {Verb::capa, &LoginSession::cmd_capa},
      {Verb::quit, &LoginSession::cmd_quit},
      {Verb::utf8, &LoginSession::cmd_utf8},
      {Verb::apop, &LoginSession::cmd_apop},
  }};
  for (const auto& e : table)
    if (e.verb == cmd.verb) return (this->*e.handler)(cmd);
  send(reply::not_logged_in);
  return Step::next;
}

LoginSession::Step LoginSession::cmd_capa(const Command&) {
  CapaContext c;
  c.authorization = true;
  c.user_allowed = !settings_.login_needs_tls();
  if (!settings_.login_needs_tls()) {
    for (auto m : settings_.offered_sasl()) c.sasl.push_back(sasl::mechanism_name(m));
    c.external = settings_.external_offered();
  }
  c.stls = settings_.starttls_enabled && !settings_.tls_active;
  writer_->append(capability_reply(c));
  return Step::next;
}

LoginSession::Step LoginSession::cmd_quit(const Command&) {
  send(reply::login_quit);
  end_ = LoginEnd::quit;
  lib::log::debug_if("DEBUG_LOGIN", 1, "LOGOUT, %s", peer_text().c_str());
  return Step::close;
}

LoginSession::Step LoginSession::cmd_utf8(const Command&) {
  utf8_ = true;
  send(reply::utf8_ok);
  return Step::next;
}

LoginSession::Step LoginSession::cmd_apop(const Command&) {
  send(reply::apop_unsupported);
  return Step::next;
}

LoginSession::Step LoginSession::cmd_user(const Command& cmd) {
  if (settings_.login_needs_tls()) {
    send(reply::tls_required);
    return Step::next;
  }
  user_ = std::string(cmd.text);
  send(reply::user_ok);
  return Step::next;
}

LoginSession::Step LoginSession::cmd_pass(const Command& cmd) {
  if (settings_.login_needs_tls()) {
    send(reply::tls_required);
    return Step::next;
  }
  if (!user_) {
    send(reply::pass_without_user);
    return Step::next;
  }
  lib::Secret password{std::string(cmd.text)};
  std::string login = apply_defdomain(*user_, settings_.defdomain, settings_.domainsep);
  if (login.size() > sasl::max_identity_bytes || password.size() > sasl::max_password_bytes)
    return fail(reply::login_failed, login.substr(0, 64), "USER", "user name or password too long", true);
  auto result = auth_.login(settings_.service, login, password);
  return finish(result, login, "USER");
}

// The transport of AUTH: "+ <b64>" out, one line in (through exchange()).
class LoginSession::SaslLines final : public authlib::SaslTransport {
 public:
  explicit SaslLines(LoginSession& session) : session_(session) {}
  void send_challenge(std::string_view challenge_b64) override { pending_ = challenge_b64; }
  std::optional<std::string> read_response() override { return session_.exchange(pending_); }

 private:
  LoginSession& session_;
  std::string pending_;
};

LoginSession::Step LoginSession::cmd_auth(const Command& cmd) {
  if (settings_.login_needs_tls()) {
    send(reply::tls_required);
    return Step::next;
  }
  if (cmd.text.empty()) {
    // "AUTH" alone lists the mechanisms, as many clients expect (the
    // pre-RFC 2449 way, RFC 1734 implementations).
    send(reply::auth_list);
    for (auto m : settings_.offered_sasl()) send(sasl::mechanism_name(m));
    if (settings_.external_offered()) send("EXTERNAL");
    send(".");
    return Step::next;
  }
  authlib::SaslRequest request;
  request.mechanism = cmd.text;
  if (!cmd.initial_response.empty()) request.initial_response = cmd.initial_response;
  request.offered = settings_.offered_sasl();
  if (settings_.external_offered()) {
    request.offered.push_back(sasl::Mechanism::external);
    request.external_identity = settings_.external_identity;
  }
  request.service = settings_.service;
  request.hostname = settings_.cram_hostname;
  request.qualify_user = [this](std::string_view user) {
    return apply_defdomain(user, settings_.defdomain, settings_.domainsep);
  };
  SaslLines lines(*this);
  auto o = authlib::run_sasl_exchange(request, lines, auth_);
  const std::string& method = o.mechanism;
  switch (o.status) {
    case authlib::SaslStatus::not_offered:
      send(reply::auth_unknown_mechanism);
      return Step::next;
    case authlib::SaslStatus::initial_response_refused:
      send(reply::auth_no_initial_response);
      return Step::next;
    case authlib::SaslStatus::cancelled:
      send(reply::auth_cancelled);
      return Step::next;
    case authlib::SaslStatus::connection_lost:
      return Step::close;
    case authlib::SaslStatus::malformed:
      return fail(std::string(reply::auth_bad_response) + o.reason, o.user, method, o.reason, true);
    case authlib::SaslStatus::authorization_refused:
      return fail(reply::auth_mismatched_authzid, o.user, method, o.reason, true);
    case authlib::SaslStatus::temporary_failure:
      return temporary(o.user, method, o.reason);
    case authlib::SaslStatus::rejected:
      return finish({authlib::AuthStatus::rejected, {}, o.reason}, o.user, method);
    case authlib::SaslStatus::authenticated:
      break;
  }
  return finish({authlib::AuthStatus::ok, std::move(o.account), {}}, o.user, method);
}

std::optional<std::string> LoginSession::exchange(std::string_view challenge_b64) {
  writer_->append("+ ");
  send(challenge_b64);
  if (!writer_->flush()) {
    end_ = LoginEnd::disconnected;
    return std::nullopt;
  }
  std::string line;
  auto status = reader_->read_line(line);
  switch (status) {
    case lib::io::ReadStatus::ok:
      lib::log::debug_if("DEBUG_LOGIN", 2, "response: %s", lib::log::mask_auth_line(line, true).c_str());
      return line;
    case lib::io::ReadStatus::timeout:
      send(reply::login_timeout);
      end_ = LoginEnd::timeout;
      return std::nullopt;
    case lib::io::ReadStatus::too_long:
    case lib::io::ReadStatus::bare_cr:
    case lib::io::ReadStatus::bare_lf:
    case lib::io::ReadStatus::nul_byte:
      // Not base64 in any case: a failed exchange, which fail() reports.
      wipe(line);
      return std::string("\x01");
    default:
      end_ = LoginEnd::disconnected;
      return std::nullopt;
  }
}

LoginSession::Step LoginSession::cmd_stls(const Command&) {
  if (!settings_.starttls_enabled || settings_.tls_active || !tls_) {
    send(reply::stls_unavailable);
    return Step::next;
  }
  // RFC 2595 section 4 / RFC 3207 section 4.2: nothing the client sent
  // before the handshake may be taken as coming from inside it.
  size_t dropped = reader_->discard_buffered();
  if (dropped > 0)
    lib::log::warning("STLS: the client sent %zu bytes after STLS before the TLS handshake; "
                      "dropped, %s", dropped, peer_text().c_str());
  send(reply::stls_begin);
  if (!writer_->flush()) {
    end_ = LoginEnd::disconnected;
    return Step::close;
  }
  auto started = tls_(writer_->fd());
  if (!started) {
    lib::log::error("STLS failed, %s: %s", peer_text().c_str(), started.error().message.c_str());
    end_ = LoginEnd::tls_failed;
    return Step::close;
  }
  tls_fd_ = std::move(started->plaintext);
  start_io(tls_fd_.get(), tls_fd_.get());
  settings_.tls_active = true;
  settings_.starttls_enabled = false;
  settings_.external_identity = settings_.tls_external_field.empty() ? "" : started->external_identity;
  user_.reset();  // RFC 2595 section 4: start over after the handshake
  return Step::next;
}

LoginSession::Step LoginSession::finish(const authlib::AuthResult& result, const std::string& login,
                                        std::string_view method) {
  std::string_view failed = method == "USER" ? reply::login_failed : reply::auth_failed;
  switch (result.status) {
    case authlib::AuthStatus::rejected:
      return fail(failed, login, method, result.error, true);
    case authlib::AuthStatus::temporary:
      return temporary(login, method, result.error);
    case authlib::AuthStatus::ok:
      break;
  }
  const std::string& options = result.account.options;
  if (account_option_set(options, "disablepop3"))
    return fail(reply::pop3_disabled, login, method, "disablepop3 is set for the account", false);
  if (account_option_set(options, "disableinsecurepop3") && !settings_.tls_active)
    return fail(reply::insecure_disabled, login, method,
                "disableinsecurepop3 is set for the account and the connection is not encrypted", false);
  if (settings_.proxy_requested && !proxy_warned_) {
    proxy_warned_ = true;
    lib::log::warning("POP3_PROXY is set but proxying is not supported: %s is served from the local "
                      "Maildir (set POP3_PROXY=0 in the pop3d configuration)",
                      login.c_str());
  }
  success_ = LoginSuccess{result.account, login, std::string(method)};
  return Step::logged_in;
}

LoginSession::Step LoginSession::fail(std::string_view reply_text, const std::string& user,
                                      std::string_view method, std::string_view reason, bool delay) {
  ++failures_;
  std::string method_text(method);
  std::string reason_text(reason);
  // Courier's wording, which fail2ban's courier filters look for.
  lib::log::info("LOGIN FAILED, user=%s, %s, method=%s, reason=%s", user.c_str(), peer_text().c_str(),
                 method_text.c_str(), reason_text.c_str());
  if (delay && settings_.failed_login_delay.count() > 0 && sleep_) sleep_(settings_.failed_login_delay);
  if (failures_ >= settings_.max_failed_logins) {
    send(reply::too_many_failures);
    end_ = LoginEnd::too_many_failures;
    lib::log::info("DISCONNECTED, %s, reason=%d failed logins", peer_text().c_str(), failures_);
    return Step::close;
  }
  send(reply_text);
  return Step::next;
}

LoginSession::Step LoginSession::temporary(const std::string& user, std::string_view method,
                                           const std::string& error) {
  std::string method_text(method);
  lib::log::error("LOGIN FAILED (temporary), user=%s, %s, method=%s: %s", user.c_str(), peer_text().c_str(),
                  method_text.c_str(), error.c_str());
  send(reply::temporary_failure);
  end_ = LoginEnd::temporary_failure;
  return Step::close;
}

}  // namespace pop3d
