// courierd/dsn.cpp: see dsn.hpp.
#include "courierd/dsn.hpp"

#include <unistd.h>

#include <cstdio>
#include <random>

#include "courierd/routes.hpp"
#include "lib/ascii.hpp"
#include "lib/rfc5322.hpp"

namespace courierd {

std::string_view message_headers(std::string_view message) {
  auto header = lib::rfc5322::parse_header(message);
  return message.substr(0, header.body_start);
}

bool notify_wants(std::string_view notify, DsnKind kind) {
  std::string n = lib::ascii::to_lower(notify);
  if (n.empty()) return kind != DsnKind::success;
  if (n.find("never") != std::string::npos) return false;
  switch (kind) {
    case DsnKind::failure: return n.find("failure") != std::string::npos;
    case DsnKind::delay: return n.find("delay") != std::string::npos;
    case DsnKind::success: return n.find("success") != std::string::npos;
  }
  return false;
}

namespace {

std::string random_hex(size_t n) {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += digits[rng() & 15];
  return out;
}

// A header value must not carry line breaks from the input (remote replies end up here).
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) out += (c == '\n' || c == '\r') ? ' ' : c;
  return out;
}

const char* subject_for(DsnKind kind) {
  switch (kind) {
    case DsnKind::failure: return "Delivery Status Notification (Failure)";
    case DsnKind::delay: return "Delivery Status Notification (Delay)";
    case DsnKind::success: return "Delivery Status Notification (Success)";
  }
  return "";
}

}  // namespace

std::string build_dsn(const DsnInput& in) {
  const std::string boundary = "=_" + in.reporting_mta + "-" + random_hex(16);
  const std::string date = lib::rfc5322::format_date(in.now, 0);
  std::string m;
  m += "From: " + one_line(in.from) + "\n";
  m += "To: <" + one_line(in.to) + ">\n";
  m += "Subject: " + std::string(subject_for(in.kind)) + "\n";
  m += "Date: " + date + "\n";
  m += "Message-ID: <dsn." + in.qid + "." + random_hex(8) + "@" +
       (in.message_id_host.empty() ? in.reporting_mta : in.message_id_host) + ">\n";
  m += "Auto-Submitted: auto-replied\n";
  m += "MIME-Version: 1.0\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\n    boundary=\"" + boundary + "\"\n";
  m += "Content-Transfer-Encoding: 7bit\n\n";
  m += "This is a MIME-formatted message.  If you see this text it means that your\n"
       "E-mail software does not support MIME-formatted messages.\n\n";

  // Part 1: the human-readable explanation.
  m += "--" + boundary + "\n";
  m += "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n";
  m += "This is a delivery status notification from " + in.reporting_mta + ",\n"
       "an automated mail delivery program.\n\n";
  switch (in.kind) {
    case DsnKind::failure:
      m += "Your message could not be delivered to the following address(es). The\n"
           "reason is given with each address; the message's headers (or the whole\n"
           "message) are attached.\n\n";
      break;
    case DsnKind::delay:
      m += "Your message has not been delivered to the following address(es) yet.\n"
           "Delivery will be retried; you do not need to send it again. You will be\n"
           "notified if it finally fails.\n\n";
      break;
    case DsnKind::success:
      m += "Your message was delivered to the following address(es), as you asked.\n\n";
      break;
  }
  for (const auto& r : in.recipients) {
    m += "<" + one_line(r.address) + ">:\n";
    if (!r.remote_mta.empty()) m += "    " + one_line(r.remote_mta) + "\n";
    m += "    " + one_line(r.action) + " (" + one_line(r.status) + ")";
    if (!r.diagnostic.empty()) m += ": " + one_line(r.diagnostic);
    m += "\n\n";
  }

  // Part 2: message/delivery-status (RFC 3464 2.2, 2.3).
  m += "--" + boundary + "\n";
  m += "Content-Type: message/delivery-status\nContent-Transfer-Encoding: 7bit\n\n";
  if (!in.envid.empty()) m += "Original-Envelope-Id: " + one_line(in.envid) + "\n";
  m += "Reporting-MTA: dns; " + one_line(in.reporting_mta) + "\n";
  m += "X-Courier-Queue-ID: " + in.qid + "\n";
  if (in.arrival) m += "Arrival-Date: " + lib::rfc5322::format_date(in.arrival, 0) + "\n";
  for (const auto& r : in.recipients) {
    m += "\n";
    if (!r.orcpt.empty()) m += "Original-Recipient: " + one_line(r.orcpt) + "\n";
    m += "Final-Recipient: rfc822; " + one_line(r.address) + "\n";
    m += "Action: " + one_line(r.action) + "\n";
    m += "Status: " + one_line(r.status) + "\n";
    if (!r.remote_mta.empty()) m += "Remote-MTA: " + one_line(r.remote_mta) + "\n";
    if (!r.diagnostic.empty()) m += "Diagnostic-Code: " + one_line(r.diagnostic) + "\n";
    if (r.last_attempt) m += "Last-Attempt-Date: " + lib::rfc5322::format_date(r.last_attempt, 0) + "\n";
    if (in.kind == DsnKind::delay && in.retry_until)
      m += "Will-Retry-Until: " + lib::rfc5322::format_date(in.retry_until, 0) + "\n";
  }

  // Part 3: the original, whole or its headers (RET, RFC 3461 4.3).
  bool full = in.kind == DsnKind::failure && in.ret != "HDRS" && in.original.size() <= in.max_full_bytes;
  if (in.ret == "FULL" && in.kind == DsnKind::failure && in.original.size() > in.max_full_bytes) full = false;
  m += "\n--" + boundary + "\n";
  if (full) {
    m += "Content-Type: message/rfc822\n\n";
    m += in.original;
    if (!in.original.empty() && in.original.back() != '\n') m += "\n";
  } else {
    m += "Content-Type: text/rfc822-headers\n\n";
    std::string_view h = message_headers(in.original);
    m += h;
    if (!h.empty() && h.back() != '\n') m += "\n";
  }
  m += "\n--" + boundary + "--\n";
  return m;
}

}  // namespace courierd
