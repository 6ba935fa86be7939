// authlib/chain.hpp: answers one authdaemon request by trying the modules of
// authmodulelist in order (Courier's semantics: a rejection tries the next
// module; a temporary failure stops the chain). Pure logic, no sockets: the
// daemon's worker reads the request and writes what this returns.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "authlib/module.hpp"
#include "authlib/protocol.hpp"

namespace authlib {

struct ChainReply {
  Outcome outcome = Outcome::rejected;
  std::string reply;    // bytes to send; empty for a temporary failure (close without reply)
  std::string summary;  // one log line: what was asked and what each module said
  std::string user;     // AUTH: the account asked for (for the failed-login delay)
};

class Chain {
 public:
  // default_options: authdaemonrc's DEFAULTOPTIONS, for accounts without OPTIONS.
  Chain(std::vector<std::unique_ptr<Module>> modules, std::string default_options);

  ChainReply pre(const protocol::PreRequest& request);
  // payload: the bytes after "AUTH <len>\n" (authlib/sasl.hpp form).
  ChainReply auth(std::string_view payload);
  ChainReply passwd(const protocol::PasswdRequest& request);
  // Sends ENUMERATE lines through write as it goes (a directory may hold many
  // accounts); the returned reply holds only the final ".\n".
  ChainReply enumerate(const std::function<bool(std::string_view)>& write);

  const std::vector<std::unique_ptr<Module>>& modules() const { return modules_; }

 private:
  template <class Fn>
  ChainReply run(std::string what, std::string_view only_module, Fn&& ask);

  std::vector<std::unique_ptr<Module>> modules_;
  std::string default_options_;
};

}  // namespace authlib
