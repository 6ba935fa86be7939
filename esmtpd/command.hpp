// esmtpd/command.hpp: parsing of SMTP command lines (RFC 5321 4.1), pure functions
// over one line so that they can be fuzzed (tests/fuzz/fuzz_smtp_command.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace esmtpd {

enum class Verb {
  helo, ehlo, mail, rcpt, data, bdat, rset, noop, quit, help, vrfy, expn, starttls, auth,
  unknown
};

struct Command {
  Verb verb = Verb::unknown;
  std::string name;  // the verb as sent, upper-cased (for logs)
  std::string arg;   // the rest, leading blanks removed
};

Command parse_command(std::string_view line);

// An ESMTP parameter of MAIL or RCPT: KEYWORD[=value], keyword upper-cased.
struct Param {
  std::string keyword;
  std::string value;
  bool has_value = false;
};

// A parsed "FROM:<path> params" or "TO:<path> params".
struct PathCommand {
  std::string address;  // without the brackets; empty for the null path <>
  std::vector<Param> params;
};

// Why a path was refused, with the SMTP reply to send.
struct PathError {
  int code;            // 501, 517, 555 ...
  std::string reply;   // the whole reply line without CRLF
};

// Parses MAIL's or RCPT's argument. prefix is "FROM:" or "TO:" (case-insensitive,
// blanks allowed after the colon as many clients send them). A path without angle
// brackets gets Courier's 517 reply; source routes (@a,@b:user@c) are dropped as RFC
// 5321 4.1.1.3 asks; the null path only when allow_null.
std::pair<std::optional<PathCommand>, std::optional<PathError>> parse_path_command(
    std::string_view arg, std::string_view prefix, bool allow_null);

// Whether an address (no brackets) is "local@domain" with a dot-atom or quoted local
// part and a domain or address literal, as RFC 5321 4.1.2 allows. utf8 allows
// non-ASCII (SMTPUTF8).
bool valid_mailbox(std::string_view address, bool utf8);

// xtext (RFC 3461 4): "+XX" hex escapes. nullopt when malformed.
std::optional<std::string> xtext_decode(std::string_view text);

// "BDAT <size> [LAST]". nullopt when malformed.
struct BdatArgs {
  std::uint64_t size = 0;
  bool last = false;
};
std::optional<BdatArgs> parse_bdat(std::string_view arg);

// The local part and the domain (after the last '@'); domain empty when there is none.
std::pair<std::string, std::string> split_address(std::string_view address);
std::string lower(std::string_view s);

}  // namespace esmtpd
