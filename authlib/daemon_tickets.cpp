// authlib/daemon_tickets.cpp: see daemon_tickets.hpp.
#include "authlib/daemon_tickets.hpp"

#include <string>

namespace authlib {

std::string_view auth_payload_service(std::string_view payload) { return payload.substr(0, payload.find('\n')); }

void attach_ticket(TicketTable& tickets, ChainReply& reply, std::string_view service, std::string_view login) {
  if (reply.outcome != Outcome::ok || !reply.reply.ends_with(".\n")) return;
  auto ticket = tickets.issue(service, login, reply.reply);
  if (!ticket) {
    reply.outcome = Outcome::temporary;
    reply.summary += "; " + ticket.error().message;
    reply.reply.clear();
    return;
  }
  reply.reply.insert(reply.reply.size() - 2, "TICKET=" + *ticket + "\n");
  reply.summary += " (login ticket " + TicketTable::log_prefix(*ticket) + " issued for " + std::string(service) + ")";
}

ChainReply redeem_ticket(TicketTable& tickets, const protocol::RedeemRequest& request, uid_t peer_uid,
                         pid_t peer_pid) {
  ChainReply reply;
  reply.outcome = Outcome::rejected;
  reply.reply = "FAIL\n";
  const std::string who = "uid " + std::to_string(peer_uid) + " (pid " + std::to_string(peer_pid) + ")";
  if (!tickets.may_redeem(peer_uid)) {
    reply.summary = "REDEEM " + request.service + " from " + who +
                    " refused: only root (the login processes' parent) may redeem login tickets";
    return reply;
  }
  auto r = tickets.redeem(request.service, request.ticket);
  if (r.refusal != TicketTable::Refusal::none) {
    reply.summary = "REDEEM " + request.service + " from " + who + ": login ticket " +
                    TicketTable::log_prefix(request.ticket) + " refused: " + TicketTable::describe(r.refusal);
    if (r.refusal == TicketTable::Refusal::wrong_service) reply.summary += " (" + r.issued_for + ")";
    return reply;
  }
  reply.outcome = Outcome::ok;
  reply.user = r.login;
  reply.summary = "REDEEM " + request.service + " " + r.login + ": login ticket " +
                  TicketTable::log_prefix(request.ticket) + " redeemed by " + who;
  reply.reply = "LOGIN=" + r.login + "\n" + r.account_reply;
  return reply;
}

}  // namespace authlib
