// authlib/chain.cpp: see chain.hpp.
#include "authlib/chain.hpp"

#include "lib/log.hpp"

namespace authlib {
namespace {

const char* outcome_text(Outcome o) {
  switch (o) {
    case Outcome::ok:
      return "ok";
    case Outcome::rejected:
      return "rejected";
    case Outcome::temporary:
      return "temporary failure";
  }
  return "?";
}

ChainReply rejected(std::string summary) { return {Outcome::rejected, "FAIL\n", std::move(summary)}; }

}  // namespace

Chain::Chain(std::vector<std::unique_ptr<Module>> modules, std::string default_options)
    : modules_(std::move(modules)), default_options_(std::move(default_options)) {}

// Asks each module (or only the one named) in turn; ask(module) returns its ModuleReply.
template <class Fn>
ChainReply Chain::run(std::string what, std::string_view only_module, Fn&& ask) {
  std::string said;
  bool asked = false;
  for (auto& m : modules_) {
    if (!only_module.empty() && only_module != "." && m->name() != only_module) continue;
    asked = true;
    ModuleReply r = ask(*m);
    lib::log::debug_if("DEBUG_LOGIN", 1, "%s: %.*s: %s%s%s", what.c_str(), static_cast<int>(m->name().size()),
                       m->name().data(), outcome_text(r.outcome), r.reason.empty() ? "" : ": ", r.reason.c_str());
    if (r.outcome == Outcome::ok) {
      if (r.account.options.empty()) r.account.options = default_options_;
      return {Outcome::ok, protocol::format_account(r.account), what + ": ok via " + std::string(m->name())};
    }
    if (!said.empty()) said += "; ";
    said += std::string(m->name()) + ": " + (r.reason.empty() ? outcome_text(r.outcome) : r.reason);
    if (r.outcome == Outcome::temporary) return {Outcome::temporary, "", what + ": temporary failure (" + said + ")"};
  }
  if (!asked) return rejected(what + ": rejected (no module named " + std::string(only_module) + " in authmodulelist)");
  return rejected(what + ": rejected (" + said + ")");
}

ChainReply Chain::pre(const protocol::PreRequest& request) {
  return run("PRE " + request.service + " " + request.user, request.module,
             [&](Module& m) { return m.lookup(request.user, request.service); });
}

ChainReply Chain::auth(std::string_view payload) {
  auto parsed = sasl::parse_auth_payload(payload);
  if (!parsed) return rejected(std::string("AUTH: malformed request: ") + std::string(sasl::problem_text(parsed.problem())));
  AuthRequest request;
  request.service = parsed->service;
  std::string mechanism = "login";
  if (auto* login = std::get_if<sasl::LoginFields>(&parsed->fields)) {
    request.user = login->username;
    request.password = login->password;
  } else {
    auto& cram = std::get<sasl::CramFields>(parsed->fields);
    mechanism = std::string(sasl::cram_authtype(cram.hash));
    auto exchange = sasl::decode_cram(cram.hash, cram.challenge_b64, cram.response_b64);
    if (!exchange)
      return rejected("AUTH " + request.service + " " + mechanism +
                      ": malformed response: " + std::string(sasl::problem_text(exchange.problem())));
    request.user = exchange->username;
    request.cram = std::move(*exchange);
  }
  ChainReply reply = run("AUTH " + request.service + " " + mechanism + " " + request.user, ".",
                         [&](Module& m) { return m.authenticate(request); });
  reply.user = request.user;
  return reply;
}

ChainReply Chain::passwd(const protocol::PasswdRequest& request) {
  auto reply = run("PASSWD " + request.service + " " + request.user, ".", [&](Module& m) {
    return m.change_password(request.service, request.user, request.old_password, request.new_password);
  });
  if (reply.outcome == Outcome::ok) reply.reply = "OK\n";
  return reply;
}

ChainReply Chain::enumerate(const std::function<bool(std::string_view)>& write) {
  size_t count = 0;
  for (auto& m : modules_) {
    auto r = m->enumerate([&](const Account& a) {
      std::string line = protocol::format_enumerate_line(a) + "\n";
      if (write(line)) ++count;
    });
    if (!r) return {Outcome::temporary, "", "ENUMERATE: " + std::string(m->name()) + ": " + r.error().message};
  }
  return {Outcome::ok, ".\n", "ENUMERATE: " + std::to_string(count) + " accounts"};
}

}  // namespace authlib
