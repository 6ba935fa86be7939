// authlib/daemon_tickets.hpp: authdaemond's side of the login tickets
// (authlib/tickets.hpp): attaching a ticket to a successful AUTH or PRE, and
// answering REDEEM. daemon.cpp calls these from serve_connection.
#pragma once

#include <string_view>
#include <sys/types.h>

#include "authlib/chain.hpp"
#include "authlib/protocol.hpp"
#include "authlib/tickets.hpp"

namespace authlib {

// The service named by an AUTH payload (its first line), or "".
std::string_view auth_payload_service(std::string_view payload);

// After an answer with an account: puts "TICKET=<hex>" before its final
// ".\n". When no ticket can be issued the answer becomes a temporary failure
// (no reply), logged: the login child must not believe it logged in.
void attach_ticket(TicketTable& tickets, ChainReply& reply, std::string_view service, std::string_view login);

// REDEEM from a peer: FAIL unless the peer may redeem and the ticket is good
// for the service; the summary names why (and only the ticket's first digits).
ChainReply redeem_ticket(TicketTable& tickets, const protocol::RedeemRequest& request, uid_t peer_uid, pid_t peer_pid);

}  // namespace authlib
