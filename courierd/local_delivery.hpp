// courierd/local_delivery.hpp: local delivery, run by the delivery helper.
//
// Privileges (DESIGN.md): the helper is the one part of courierd that keeps root
// (when started as root). It reads requests from the scheduler over a
// SOCK_SEQPACKET socket, and for each forks a child that looks the account up in
// authdaemond ITSELF (the scheduler only names the recipient), refuses uid 0 and
// gid 0, opens the queued message, switches to the account (authlib::become_account)
// and runs DEFAULTDELIVERY: `./Maildir` or `/path/` into a Maildir through
// lib::maildir, `| command` through /bin/sh with Courier's environment (HOME, USER,
// SENDER, RECIPIENT, EXT, HOST, LOCAL, DEFAULT, DTLINE, RPLINE), the configured
// maildrop with -d/-f/-A. The child sends one reply packet and exits.
// Run as an ordinary user the same code runs without the switch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "courierd/settings.hpp"

namespace courierd {

struct LocalRequest {
  std::uint64_t job = 0;
  std::string qid;
  int rcpt = 0;
  std::string recipient;    // envelope address as queued
  std::string account_key;  // from classify(): "user" or "user@hosted.domain"
  std::string sender;       // "" = null sender
};

// forward: the instructions forward the message; text holds the addresses
// (comma-separated), which the scheduler queues as a new message.
enum class Outcome { delivered, failed, deferred, forward };

struct LocalReply {
  std::uint64_t job = 0;
  Outcome outcome = Outcome::deferred;
  std::string status;  // "2.0.0", "5.1.1", "4.2.0"
  std::string text;
};

std::string encode(const LocalRequest& r);
std::optional<LocalRequest> decode_request(std::string_view packet);
std::string encode(const LocalReply& r);
std::optional<LocalReply> decode_reply(std::string_view packet);

// The helper's loop: returns when the scheduler closes its end.
int run_delivery_helper(int sock, const Settings& settings);

// One delivery, in the current process (the forked child): the whole job.
LocalReply deliver_locally(const LocalRequest& request, const Settings& settings);

// How a command's exit code counts (COURIER-COMPAT.md section 9): 0 continue,
// 99 delivered and stop, EX_SOFTWARE and the list there permanent, else temporary.
enum class CommandVerdict { next, stop, permanent, temporary };
CommandVerdict command_verdict(int exit_code);

}  // namespace courierd
