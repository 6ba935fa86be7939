// maildrop/dot_courier.hpp: $HOME/.courier[-EXT] delivery instructions
// (COURIER-COMPAT.md section 9): which file applies to an address extension,
// and what its lines say. Pure: the caller reads the file and carries out the
// instructions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace maildrop {

struct DotCourierLine {
  enum class Kind { mailbox, program, forward };
  Kind kind = Kind::mailbox;
  std::string text;                    // mailbox path or command
  std::vector<std::string> addresses;  // forward
  int line = 0;
};

struct DotCourierParseError {
  int line = 0;
  std::string message;
};

// The file names to try for an extension, most specific first:
//   ""        -> .courier
//   "a-b"     -> .courier-a-b, .courier-a-default, .courier-default
// Periods become ':' and letters are lower-cased, as Courier does.
std::vector<std::string> dot_courier_candidates(std::string_view ext);

// Parses a file: '#' comments, '\' continuation, blank lines skipped.
// An empty result from a non-empty file means "discard the message".
std::variant<std::vector<DotCourierLine>, DotCourierParseError> parse_dot_courier(std::string_view text);

}  // namespace maildrop
