// tests/fuzz/fuzz_pop3.cpp: what pop3login and pop3d parse from a client or
// from the account's Maildir: the command parser (pop3d/command.hpp), Courier's
// courierpop3dsizelist (pop3d/sizelist.hpp), and the size counter and TOP
// filter RETR and TOP rely on (pop3d/message.hpp). Invariants: a parsed
// command's texts lie inside the line and its numbers are in range; a parsed
// size list formats to text that parses to the same entries; the POP3 size
// and TOP's cut do not depend on how the message is chunked; the message
// order is a consistent comparison.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pop3d/command.hpp"
#include "pop3d/message.hpp"
#include "pop3d/sizelist.hpp"

using namespace pop3d;

namespace {

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_command(std::string_view line) {
  auto parsed = parse_command(line);
  if (auto* cmd = std::get_if<Command>(&parsed)) {
    if (!inside(cmd->text, line) || !inside(cmd->initial_response, line)) std::abort();
    if (cmd->message && (*cmd->message == 0 || *cmd->message > max_argument_number)) std::abort();
    if (cmd->lines && *cmd->lines > max_argument_number) std::abort();
    if (cmd->verb == Verb::top && (!cmd->message || !cmd->lines)) std::abort();
    if ((cmd->verb == Verb::retr || cmd->verb == Verb::dele) && !cmd->message) std::abort();
  } else if (syntax_error_text(std::get<SyntaxError>(parsed)).empty()) {
    std::abort();
  }
}

void check_sizelist(std::string_view text) {
  auto list = parse_sizelist(text);
  if (!list) return;
  auto again = parse_sizelist(format_sizelist(*list));
  if (!again || again->entries.size() != list->entries.size() || again->next_uid < list->next_uid) std::abort();
  for (size_t i = 0; i < list->entries.size(); ++i) {
    const auto& a = list->entries[i];
    const auto& b = again->entries[i];
    if (a.file_name != b.file_name || a.size != b.size || a.uid != b.uid || a.uidv != b.uidv || a.utf8 != b.utf8)
      std::abort();
    if (a.uid >= list->next_uid && a.uidv == list->uidv) std::abort();
  }
}

void check_message(std::string_view message, size_t split) {
  SizeCounter whole, parts;
  whole.feed(message);
  parts.feed(message.substr(0, split));
  parts.feed(message.substr(split));
  auto a = whole.finish(), b = parts.finish();
  if (a.pop3_size != b.pop3_size || a.utf8_header != b.utf8_header) std::abort();
  if (a.pop3_size < message.size()) std::abort();  // line ends only grow
  for (std::uint64_t lines : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{5}}) {
    TopFilter one(lines), two(lines);
    size_t n1 = one.take(message);
    size_t n2 = two.take(message.substr(0, split));
    if (n2 == split && !two.done()) n2 += two.take(message.substr(split));
    if (n1 != n2 || n1 > message.size()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  check_command(input.substr(0, nl));
  check_sizelist(input);
  check_message(input, size == 0 ? 0 : data[0] % (size + 1));
  size_t half = size / 2;
  int ab = compare_message_names(input.substr(0, half), input.substr(half));
  int ba = compare_message_names(input.substr(half), input.substr(0, half));
  if ((ab < 0) != (ba > 0) || (ab == 0) != (ba == 0)) std::abort();
  return 0;
}
