// pop3d/command.cpp: see command.hpp.
#include "pop3d/command.hpp"

#include <array>

#include "pop3d/replies.hpp"

namespace pop3d {

namespace {

// What follows the keyword.
enum class Args {
  none,             // STAT, NOOP, RSET, QUIT, CAPA, STLS, UTF8
  optional_number,  // LIST [n], UIDL [n]
  number,           // RETR n, DELE n
  number_number,    // TOP n lines
  name,             // USER name
  password,         // PASS rest-of-line
  auth,             // AUTH [mechanism [initial-response]]
  any,              // APOP: parsed only to be refused
};

constexpr unsigned authorization = static_cast<unsigned>(State::authorization);
constexpr unsigned transaction = static_cast<unsigned>(State::transaction);

struct VerbInfo {
  std::string_view name;
  Verb verb;
  Args args;
  unsigned states;
};

// The command table (STYLE.md 4): keyword, verb, argument shape, states.
// CAPA and QUIT are valid in both states (RFC 2449 section 5, RFC 1939 6);
// UTF8 is accepted after login too, as Courier does for Outlook.
constexpr std::array<VerbInfo, 16> verb_table{{
    {"USER", Verb::user, Args::name, authorization},
    {"PASS", Verb::pass, Args::password, authorization},
    {"AUTH", Verb::auth, Args::auth, authorization},
    {"STLS", Verb::stls, Args::none, authorization},
    {"CAPA", Verb::capa, Args::none, authorization | transaction},
    {"QUIT", Verb::quit, Args::none, authorization | transaction},
    {"UTF8", Verb::utf8, Args::none, authorization | transaction},
    {"APOP", Verb::apop, Args::any, authorization},
    {"STAT", Verb::stat, Args::none, transaction},
    {"LIST", Verb::list, Args::optional_number, transaction},
    {"RETR", Verb::retr, Args::number, transaction},
    {"DELE", Verb::dele, Args::number, transaction},
    {"NOOP", Verb::noop, Args::none, transaction},
    {"RSET", Verb::rset, Args::none, transaction},
    {"TOP", Verb::top, Args::number_number, transaction},
    {"UIDL", Verb::uidl, Args::optional_number, transaction},
}};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Takes the next blank-separated word off the front of s.
std::string_view next_word(std::string_view& s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  size_t end = 0;
  while (end < s.size() && !is_blank(s[end])) ++end;
  std::string_view word = s.substr(0, end);
  s.remove_prefix(end);
  return word;
}

const VerbInfo* find_verb(std::string_view keyword) {
  if (keyword.size() < 3 || keyword.size() > 4) return nullptr;
  for (const auto& info : verb_table) {
    if (info.name.size() != keyword.size()) continue;
    bool same = true;
    for (size_t i = 0; i < keyword.size() && same; ++i) same = upper(keyword[i]) == info.name[i];
    if (same) return &info;
  }
  return nullptr;
}

}  // namespace

std::string_view syntax_error_text(SyntaxError error) noexcept {
  switch (error) {
    case SyntaxError::empty_line: return "Empty command line.";
    case SyntaxError::unknown_command: return "Invalid command.";
    case SyntaxError::missing_argument: return "Missing argument.";
    case SyntaxError::extra_argument: return "Too many arguments.";
    case SyntaxError::bad_number: return "Invalid number.";
    case SyntaxError::bad_character: return "Invalid character in argument.";
  }
  return "Invalid command.";
}

std::string_view verb_name(Verb verb) noexcept {
  for (const auto& info : verb_table)
    if (info.verb == verb) return info.name;
  return "?";
}

bool valid_in(Verb verb, State state) noexcept {
  for (const auto& info : verb_table)
    if (info.verb == verb) return (info.states & static_cast<unsigned>(state)) != 0;
  return false;
}

std::optional<std::uint64_t> parse_number(std::string_view text) noexcept {
  if (text.empty() || text.size() > 10) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value > max_argument_number) return std::nullopt;
  return value;
}

ParsedCommand parse_command(std::string_view line) {
  std::string_view rest = line;
  std::string_view keyword = next_word(rest);
  if (keyword.empty()) return SyntaxError::empty_line;
  const VerbInfo* info = find_verb(keyword);
  if (!info) return SyntaxError::unknown_command;

  Command cmd;
  cmd.verb = info->verb;

  // A message number argument: >= 1.
  auto take_message = [&](std::string_view word) -> std::optional<SyntaxError> {
    auto n = parse_number(word);
    if (!n || *n == 0) return SyntaxError::bad_number;
    cmd.message = *n;
    return std::nullopt;
  };

  switch (info->args) {
    case Args::none:
      if (!trim(rest).empty()) return SyntaxError::extra_argument;
      return cmd;

    case Args::optional_number: {
      std::string_view word = next_word(rest);
      if (word.empty()) return cmd;
      if (auto e = take_message(word)) return *e;
      if (!trim(rest).empty()) return SyntaxError::extra_argument;
      return cmd;
    }

    case Args::number: {
      std::string_view word = next_word(rest);
      if (word.empty()) return SyntaxError::missing_argument;
      if (auto e = take_message(word)) return *e;
      if (!trim(rest).empty()) return SyntaxError::extra_argument;
      return cmd;
    }

    case Args::number_number: {
      std::string_view first = next_word(rest);
      std::string_view second = next_word(rest);
      if (first.empty() || second.empty()) return SyntaxError::missing_argument;
      if (auto e = take_message(first)) return *e;
      auto lines = parse_number(second);
      if (!lines) return SyntaxError::bad_number;
      cmd.lines = *lines;
      if (!trim(rest).empty()) return SyntaxError::extra_argument;
      return cmd;
    }

    case Args::name: {
      std::string_view name = trim(rest);
      if (name.empty()) return SyntaxError::missing_argument;
      if (has_control(name)) return SyntaxError::bad_character;
      cmd.text = name;
      return cmd;
    }

    case Args::password: {
      // "PASS" SP password: everything after the one separator, spaces included.
      std::string_view after = line.substr(line.find_first_not_of(" \t"));
      after.remove_prefix(keyword.size());
      if (after.empty() || !is_blank(after.front())) return SyntaxError::missing_argument;
      after.remove_prefix(1);
      if (after.empty()) return SyntaxError::missing_argument;
      // A TAB is a character of some passwords; CR, LF and NUL never reach here.
      for (unsigned char c : after)
        if ((c < 0x20 && c != '\t') || c == 0x7f) return SyntaxError::bad_character;
      cmd.text = after;
      return cmd;
    }

    case Args::auth: {
      cmd.text = next_word(rest);
      cmd.initial_response = next_word(rest);
      if (!trim(rest).empty()) return SyntaxError::extra_argument;
      if (has_control(cmd.text) || has_control(cmd.initial_response)) return SyntaxError::bad_character;
      return cmd;
    }

    case Args::any:
      return cmd;
  }
  return SyntaxError::unknown_command;
}

CheckedLine check_line(lib::io::ReadStatus status, std::string_view line, State state) {
  CheckedLine out;
  switch (status) {
    case lib::io::ReadStatus::ok:
      break;
    case lib::io::ReadStatus::too_long:
      out.refusal = std::string(reply::line_too_long);
      return out;
    default:  // bare_cr, bare_lf, nul_byte
      out.refusal = std::string(reply::bad_line);
      return out;
  }
  auto parsed = parse_command(line);
  if (auto* e = std::get_if<SyntaxError>(&parsed)) {
    out.refusal = std::string(reply::err_prefix) + std::string(syntax_error_text(*e));
    return out;
  }
  const Command& cmd = std::get<Command>(parsed);
  if (!valid_in(cmd.verb, state)) {
    out.refusal = std::string(state == State::authorization ? reply::not_logged_in : reply::already_logged_in);
    return out;
  }
  out.command = cmd;
  return out;
}

}  // namespace pop3d
