// authlib/sasl_server.cpp: see sasl_server.hpp.
#include "authlib/sasl_server.hpp"

#include <algorithm>

namespace authlib {
namespace {

using sasl::Mechanism;

std::optional<sasl::CramHash> cram_hash(Mechanism m) {
  switch (m) {
    case Mechanism::cram_md5: return sasl::CramHash::md5;
    case Mechanism::cram_sha1: return sasl::CramHash::sha1;
    case Mechanism::cram_sha256: return sasl::CramHash::sha256;
    default: return std::nullopt;
  }
}

class Exchange {
 public:
  Exchange(const SaslRequest& request, SaslTransport& transport, Authenticator& auth)
      : req_(request), transport_(transport), auth_(auth) {}

  SaslOutcome run();

 private:
  SaslOutcome plain();
  SaslOutcome login();
  SaslOutcome cram(sasl::CramHash hash);
  SaslOutcome external();

  // One round: the challenge out, the answer in. Sets out_ for cancel or a
  // lost connection (then returns nullopt).
  std::optional<lib::Secret> round(std::string_view challenge_b64);
  // The client's first message: the initial response if one was given (""
  // for "="), else one round with an empty challenge.
  std::optional<lib::Secret> first_message();

  SaslOutcome ended(SaslStatus status, std::string reason = {}) {
    out_.status = status;
    out_.reason = std::move(reason);
    return std::move(out_);
  }
  SaslOutcome malformed(sasl::Problem problem) {
    out_.problem = problem;
    return ended(SaslStatus::malformed, std::string(sasl::problem_text(problem)));
  }
  SaslOutcome judged(AuthResult r);
  std::string qualify(std::string_view user) const {
    return req_.qualify_user ? req_.qualify_user(user) : std::string(user);
  }

  const SaslRequest& req_;
  SaslTransport& transport_;
  Authenticator& auth_;
  SaslOutcome out_;
};

std::optional<lib::Secret> Exchange::round(std::string_view challenge_b64) {
  transport_.send_challenge(challenge_b64);
  auto line = transport_.read_response();
  if (!line) {
    out_.status = SaslStatus::connection_lost;
    out_.reason = "the connection ended during the SASL exchange";
    return std::nullopt;
  }
  lib::Secret held{std::move(*line)};
  if (sasl::is_cancel(held.reveal())) {
    out_.status = SaslStatus::cancelled;
    out_.reason = "the client cancelled the SASL exchange";
    return std::nullopt;
  }
  return held;
}

std::optional<lib::Secret> Exchange::first_message() {
  if (req_.initial_response) {
    if (*req_.initial_response == "=") return lib::Secret();
    return lib::Secret(std::string(*req_.initial_response));
  }
  return round("");
}

SaslOutcome Exchange::judged(AuthResult r) {
  switch (r.status) {
    case AuthStatus::ok:
      out_.account = std::move(r.account);
      return ended(SaslStatus::authenticated);
    case AuthStatus::temporary:
      return ended(SaslStatus::temporary_failure, std::move(r.error));
    case AuthStatus::rejected:
      break;
  }
  return ended(SaslStatus::rejected, std::move(r.error));
}

SaslOutcome Exchange::run() {
  auto mech = sasl::mechanism_from_name(req_.mechanism);
  if (!mech) return ended(SaslStatus::not_offered, "unknown SASL mechanism");
  out_.mechanism = std::string(sasl::mechanism_name(*mech));
  bool offered = std::find(req_.offered.begin(), req_.offered.end(), *mech) != req_.offered.end();
  if (*mech == Mechanism::external && req_.external_identity.empty()) offered = false;
  if (!offered) return ended(SaslStatus::not_offered, out_.mechanism + " is not offered here");
  switch (*mech) {
    case Mechanism::plain: return plain();
    case Mechanism::login: return login();
    case Mechanism::external: return external();
    default: return cram(*cram_hash(*mech));
  }
}

SaslOutcome Exchange::plain() {
  auto message = first_message();
  if (!message) return std::move(out_);
  lib::Secret decoded;
  if (req_.initial_response && *req_.initial_response == "=") {
    decoded = std::move(*message);
  } else {
    auto d = sasl::decode_base64_secret(message->reveal());
    if (!d) return malformed(d.problem());
    decoded = std::move(*d);
  }
  auto creds = sasl::parse_plain(decoded.reveal());
  if (!creds) return malformed(creds.problem());
  if (!creds->authzid.empty() && creds->authzid != creds->authcid) {
    out_.user = creds->authcid;
    return ended(SaslStatus::authorization_refused, "the authorization identity differs from the login name");
  }
  out_.user = qualify(creds->authcid);
  return judged(auth_.login(req_.service, out_.user, creds->password));
}

SaslOutcome Exchange::login() {
  sasl::LoginExchange ex;
  if (req_.initial_response) {
    auto r = ex.respond(*req_.initial_response == "=" ? std::string_view() : *req_.initial_response);
    if (!r) return malformed(r.problem());
  }
  while (!ex.done()) {
    auto answer = round(ex.challenge());
    if (!answer) return std::move(out_);
    auto r = ex.respond(answer->reveal());
    if (!r) {
      out_.user = ex.username();
      return malformed(r.problem());
    }
  }
  out_.user = qualify(ex.username());
  return judged(auth_.login(req_.service, out_.user, ex.password()));
}

SaslOutcome Exchange::cram(sasl::CramHash hash) {
  if (req_.initial_response)
    return ended(SaslStatus::initial_response_refused, out_.mechanism + " takes no initial response");
  auto challenge = sasl::make_cram_challenge(req_.hostname);
  if (!challenge) return ended(SaslStatus::temporary_failure, "CRAM challenge: " + challenge.error().message);
  const std::string challenge_b64 = sasl::encode_base64(*challenge);
  auto answer = round(challenge_b64);
  if (!answer) return std::move(out_);
  std::string response_b64(answer->reveal());
  auto decoded = sasl::decode_cram(hash, challenge_b64, response_b64);
  if (!decoded) return malformed(decoded.problem());
  out_.user = qualify(decoded->username);
  if (out_.user != decoded->username) {
    // The digest covers only the challenge, so the response can be rebuilt
    // with the qualified name for authdaemond.
    response_b64 = sasl::encode_base64(out_.user + " " + sasl::encode_hex(decoded->digest));
  }
  return judged(auth_.cram(req_.service, hash, challenge_b64, response_b64));
}

SaslOutcome Exchange::external() {
  auto message = first_message();
  if (!message) return std::move(out_);
  out_.user = std::string(req_.external_identity);
  std::string authzid_text;
  if (!message->empty() && !(req_.initial_response && *req_.initial_response == "=")) {
    auto d = sasl::decode_base64(message->reveal());
    if (!d) return malformed(d.problem());
    authzid_text = std::move(*d);
  }
  auto authzid = sasl::parse_external(authzid_text);
  if (!authzid) return malformed(authzid.problem());
  if (!authzid->empty() && *authzid != req_.external_identity)
    return ended(SaslStatus::authorization_refused,
                 "the authorization identity differs from the certificate's");
  return judged(auth_.lookup(req_.service, req_.external_identity));
}

}  // namespace

AuthResult DaemonAuthenticator::login(std::string_view service, std::string_view user,
                                      const lib::Secret& password) {
  return authenticate_login(options_, service, user, password);
}

AuthResult DaemonAuthenticator::cram(std::string_view service, sasl::CramHash hash,
                                     std::string_view challenge_b64, std::string_view response_b64) {
  return authenticate_cram(options_, service, hash, challenge_b64, response_b64);
}

AuthResult DaemonAuthenticator::lookup(std::string_view service, std::string_view user) {
  return lookup_account(options_, service, user);
}

SaslOutcome run_sasl_exchange(const SaslRequest& request, SaslTransport& transport, Authenticator& auth) {
  return Exchange(request, transport, auth).run();
}

std::string_view sasl_status_name(SaslStatus status) noexcept {
  switch (status) {
    case SaslStatus::authenticated: return "authenticated";
    case SaslStatus::rejected: return "rejected";
    case SaslStatus::temporary_failure: return "temporary failure";
    case SaslStatus::cancelled: return "cancelled";
    case SaslStatus::malformed: return "malformed";
    case SaslStatus::authorization_refused: return "authorization refused";
    case SaslStatus::not_offered: return "not offered";
    case SaslStatus::initial_response_refused: return "initial response refused";
    case SaslStatus::connection_lost: return "connection lost";
  }
  return "?";
}

}  // namespace authlib
