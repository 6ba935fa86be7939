// courierd/smtp_reply.hpp: the pure parser of a remote SMTP server's replies
// (RFC 5321 4.2), fed one line at a time by courieresmtp. Untrusted input: every
// line is bounded, malformed lines are an error the caller turns into a deferral
// that quotes what the peer sent.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courierd {

inline constexpr size_t smtp_reply_max_lines = 100;
inline constexpr size_t smtp_reply_max_line_bytes = 2000;

struct SmtpReply {
  int code = 0;                   // 200..599
  std::string enhanced;           // "5.1.1" when the first line carries an RFC 3463 code
  std::vector<std::string> lines;  // the text after "ddd-"/"ddd ", one per line

  bool positive() const { return code >= 200 && code < 400; }
  bool temporary() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // "550 5.1.1 <x@y>: no such user" with the lines joined by " / ", for logs and DSNs.
  std::string text() const;
  // The status code to report: the enhanced one, or one made from the class (2.0.0,
  // 4.0.0, 5.0.0).
  std::string status() const;
};

// Collects the lines of one reply.
class SmtpReplyParser {
 public:
  enum class Step { more, done, error };
  // Feeds one line without its CRLF. done: reply() holds the reply; error: error()
  // says what was wrong. After done or error, the next feed starts a new reply.
  Step feed(std::string_view line);
  const SmtpReply& reply() const { return reply_; }
  const std::string& error() const { return error_; }

 private:
  SmtpReply reply_;
  std::string error_;
  bool in_progress_ = false;
};

// "5.1.1" style: class 2, 4 or 5, then 1-3 digits, then 1-3 digits.
bool is_enhanced_status(std::string_view text);

// The keywords of an EHLO reply (first word of each line after the first, upper case)
// and their parameters: "SIZE 1000" -> {"SIZE", "1000"}.
struct EhloCapabilities {
  bool starttls = false, eightbitmime = false, dsn = false, pipelining = false, smtputf8 = false;
  std::optional<unsigned long long> size;  // SIZE limit, when announced with a number
  std::vector<std::string> auth;          // AUTH mechanisms
};
EhloCapabilities parse_ehlo(const SmtpReply& reply);

}  // namespace courierd
