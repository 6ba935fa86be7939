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
  enum class Kind { mailbox, program, dynamic, forward };  // dynamic: "|| command"
  Kind kind = Kind::mailbox;
  std::string text;                    // mailbox path or command
  std::vector<std::string> addresses;  // forward
  int line = 0;
};

inline constexpr std::size_t max_dynamic_bytes = 8192;
inline constexpr int max_dynamic_depth = 4;

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
// "|| command" runs command and reads its output as more instructions
// (at most max_dynamic_bytes, max_dynamic_depth levels, exit 0 or 99 only).
// An empty result from a non-empty file means "discard the message".
std::variant<std::vector<DotCourierLine>, DotCourierParseError> parse_dot_courier(std::string_view text);

}  // namespace maildrop
