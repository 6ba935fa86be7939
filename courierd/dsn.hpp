// courierd/dsn.hpp: delivery status notifications (RFC 3464 multipart/report with
// message/delivery-status, RFC 3461 NOTIFY/RET/ENVID/ORCPT, RFC 3463 status codes),
// built as one message text (LF line ends, as the queue keeps messages) that the
// scheduler submits back into the queue with the null sender.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace courierd {

enum class DsnKind { failure, delay, success };

struct DsnRecipient {
  std::string address;     // the envelope recipient
  std::string orcpt;       // "rfc822;addr" as given with ORCPT, or empty
  std::string action;      // failed, delayed, delivered, relayed
  std::string status;      // "5.1.1"
  std::string diagnostic;  // "smtp; 550 5.1.1 no such user", or the local reason
  std::string remote_mta;  // "dns; mx.example.com" or empty
  std::time_t last_attempt = 0;
};

struct DsnInput {
  DsnKind kind = DsnKind::failure;
  std::string reporting_mta;  // this host ("me")
  std::string from;           // dsnfrom: the From: header of the report
  std::string to;             // the original envelope sender
  std::string envid;          // ENVID, or empty
  std::string ret;            // "FULL", "HDRS" or empty (we choose: full up to max_full_bytes)
  std::string qid;
  std::time_t arrival = 0;
  std::time_t now = 0;
  std::time_t retry_until = 0;  // delay notices: when the message will be given up
  std::string original;       // the queued message (LF line ends)
  size_t max_full_bytes = 32768;  // dsnlimit: larger originals are returned as headers only
  std::vector<DsnRecipient> recipients;
  std::string message_id_host;  // for Message-ID:, defaults to reporting_mta
};

// The whole report message, header included.
std::string build_dsn(const DsnInput& in);

// "HDRS" part of a message: its header block, up to and including the blank line.
std::string_view message_headers(std::string_view message);

// Which recipients get which notice, per RFC 3461 NOTIFY (empty = Courier's default,
// FAILURE and DELAY): whether a notice of this kind is wanted.
bool notify_wants(std::string_view notify, DsnKind kind);

}  // namespace courierd
