// authlib/tickets.hpp: one-time login tickets (DESIGN.md, Privileges; issue 14).
//
// imaplogin and pop3login talk to the client in a child that runs as the mail
// user. When that child's AUTH succeeds (it sent "TICKET=1" before AUTH),
// authdaemond keeps the account it vouched for under a random ticket and
// sends the ticket with the account ("TICKET=<64 hex>" before the "." line).
// The child hands the ticket to its root parent, which asks
//
//   REDEEM <service> <ticket>\n
//
// and gets the account exactly as an AUTH answer (with "LOGIN=<name>", the
// name the client logged in with), or FAIL. Only uid 0 may REDEEM (or
// authdaemond's own uid when it does not run as root: the sandbox). A ticket
// is good once, for ticket_lifetime, for the service it was issued for.
//
// The table is one anonymous shared mapping made by the master before it
// forks, like worker_slots.hpp: any worker may issue, any other redeem.
// An entry is claimed by compare-and-swap before it is written or read, so
// two workers never redeem one ticket.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "lib/result.hpp"

namespace authlib {

class TicketTable {
 public:
  static constexpr size_t max_entries = 512;
  static constexpr size_t ticket_bytes = 32;        // 64 hex digits on the wire
  static constexpr size_t max_service_bytes = 31;
  static constexpr size_t max_login_bytes = 511;
  static constexpr size_t max_account_bytes = 4095;  // the "KEY=value\n...\.\n" reply
  static constexpr std::chrono::seconds ticket_lifetime{10};

  static lib::Result<TicketTable> create();
  TicketTable(TicketTable&& other) noexcept;
  TicketTable& operator=(TicketTable&&) = delete;
  TicketTable(const TicketTable&) = delete;
  ~TicketTable();

  // Keeps `account_reply` (protocol::format_account) for `service` and
  // `login`; returns the ticket as 64 lowercase hex digits. Errors: no
  // randomness, fields too long, the table full of live tickets.
  lib::Result<std::string> issue(std::string_view service, std::string_view login, std::string_view account_reply);

  enum class Refusal { none, malformed, unknown, replayed, expired, wrong_service };
  struct Redeemed {
    Refusal refusal = Refusal::none;
    std::string login;          // when none
    std::string account_reply;  // when none
    std::string issued_for;     // wrong_service: the service it was issued for
  };
  // Takes the ticket out of the table. A redeemed ticket is remembered until
  // it would have expired, or until its place is needed for a new ticket, so
  // that a second REDEEM says "replayed" rather than "unknown" (refused either way).
  Redeemed redeem(std::string_view service, std::string_view ticket_hex);

  // Whether a peer of this uid may REDEEM: root; or, when authdaemond itself
  // does not run as root (the sandbox), its own uid.
  bool may_redeem(uid_t peer_uid) const noexcept { return peer_uid == 0 || (owner_uid_ != 0 && peer_uid == owner_uid_); }

  // Why, for the log.
  static const char* describe(Refusal r) noexcept;
  // The first 8 hex digits, for the log: never the whole ticket.
  static std::string log_prefix(std::string_view ticket_hex);

  // The test clock: milliseconds added to the steady clock (unit tests only).
  void advance_clock_for_tests(std::chrono::milliseconds by) noexcept { skew_ms_ += by.count(); }

 private:
  enum State : int { free_entry = 0, busy = 1, issued = 2, redeemed = 3 };
  struct Entry {
    std::atomic<int> state{free_entry};
    std::atomic<int64_t> expires_ms{0};
    unsigned char ticket[ticket_bytes] = {};
    char service[max_service_bytes + 1] = {};
    char login[max_login_bytes + 1] = {};
    uint32_t account_len = 0;
    char account[max_account_bytes + 1] = {};
  };
  static_assert(std::atomic<int64_t>::is_always_lock_free, "shared-memory atomics must be lock-free");
  TicketTable(Entry* entries, uid_t owner) : entries_(entries), owner_uid_(owner) {}
  int64_t now_ms() const noexcept;
  Entry* entries_;
  uid_t owner_uid_;  // authdaemond's euid when the table was made (the master's)
  int64_t skew_ms_ = 0;
};

}  // namespace authlib
