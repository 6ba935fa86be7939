// courierd/smtp_client.hpp: courieresmtp's delivery of one message to the mail
// servers of one domain (RFC 5321; RFC 3207 STARTTLS; RFC 4954 AUTH PLAIN to a
// smarthost listed in esmtpauthclient; RFC 3461 DSN parameters; RFC 6152 8BITMIME,
// with a quoted-printable downgrade of single-part bodies for servers without it).
// Runs as the mail user; everything the remote server says is parsed by
// smtp_reply.hpp with hard limits.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "courierd/queue_access.hpp"
#include "courierd/settings.hpp"

namespace courierd {

struct RemoteResult {
  int rcpt = 0;
  char outcome = 'y';  // d delivered, r relayed (no DSN support there), f failed, y deferred
  std::string status;
  std::string relay;   // "mx.example.com [192.0.2.1]"
  std::string text;    // the remote reply, or our reason
};

std::vector<RemoteResult> deliver_remote(const Settings& settings, const QueuedMessage& msg,
                                         const std::string& data, const std::string& domain,
                                         const std::vector<int>& rcpts);

// RFC 3461 4 xtext.
std::string xtext(std::string_view text);
// RFC 6152 downgrade: the message with its single-part 8-bit body re-encoded as
// quoted-printable, or nullopt when that is not possible (multipart bodies).
std::optional<std::string> downgrade_8bit(const std::string& message);
bool has_8bit(std::string_view text);

}  // namespace courierd
