// imapd/lexer.cpp: the IMAP command parser (RFC 3501 section 9, RFC 7888,
// RFC 3516). See lexer.hpp for the contract. The parser keeps an explicit
// stack of open lists and sections instead of recursing, so nesting costs
// heap, bounded by LexerLimits::max_depth.
#include "imapd/lexer.hpp"

#include <cstdint>
#include <limits>
#include <utility>

#include "lib/ascii.hpp"

namespace imapd {

namespace {

bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

using lib::ascii::to_upper;

constexpr auto iequal = lib::ascii::iequals;

// FETCH attributes that take a "[section]" (RFC 3501 6.4.5, RFC 3516).
bool takes_section(std::string_view name) {
  return iequal(name, "BODY") || iequal(name, "BODY.PEEK") || iequal(name, "BINARY") ||
         iequal(name, "BINARY.PEEK") || iequal(name, "BINARY.SIZE");
}

// Characters of a (lenient) atom token: printable ASCII except the
// delimiters that start or end other tokens. "]" ends an atom only inside a
// section; "\", "*", "%", "[" are accepted because flags, sequence sets and
// LIST patterns use them unquoted.
bool is_token_char(unsigned char c, bool in_section) {
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '(':
    case ')':
    case '{':
    case '"':
      return false;
    case ']':
      return !in_section;
    default:
      return true;
  }
}

// Parses up to 20 decimal digits; nullopt on overflow or no digits.
std::optional<std::uint64_t> parse_u64(std::string_view digits) {
  if (digits.empty() || digits.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

struct Frame {
  Value value;         // the list or section being built
  std::size_t start;   // offset of "(" or of the section's name
  char close;          // ')' or ']'
};

class Parser {
 public:
  Parser(std::string_view in, const LexerLimits& limits) : in_(in), limits_(limits) {}

  ParsedCommand run();

 private:
  bool at_end_of_command() const {
    const auto rest = in_.substr(pos_);
    return rest.empty() || rest == "\r\n" || rest == "\n";
  }
  bool in_section() const {
    for (const auto& f : stack_) {
      if (f.close == ']') return true;
    }
    return false;
  }
  std::vector<Value>& target() { return stack_.empty() ? cmd_.args : stack_.back().value.items; }

  bool fail(std::string text) {
    if (cmd_.error.empty()) cmd_.error = std::move(text);
    return false;
  }
  bool add(Value v) {
    if (++values_ > limits_.max_values) return fail("Too many arguments");
    target().push_back(std::move(v));
    return true;
  }

  bool parse_arguments();
  bool parse_quoted();
  bool parse_literal();
  bool parse_atom_or_section();
  bool parse_partial(Value& section);
  bool close_frame();

  std::string_view in_;
  const LexerLimits& limits_;
  std::size_t pos_ = 0;
  std::size_t values_ = 0;
  std::vector<Frame> stack_;
  bool opened_section_ = false;  // parse_atom_or_section just opened "NAME["
  ParsedCommand cmd_;
};

ParsedCommand Parser::run() {
  // Tag.
  std::size_t sp = pos_;
  while (sp < in_.size() && in_[sp] != ' ' && in_[sp] != '\r' && in_[sp] != '\n') ++sp;
  const auto tag = in_.substr(0, sp);
  if (tag.empty()) {
    fail(at_end_of_command() ? "Empty command" : "Missing tag");
    return std::move(cmd_);
  }
  if (!is_valid_tag(tag)) {
    fail("Invalid tag");
    return std::move(cmd_);
  }
  cmd_.tag = std::string(tag);
  pos_ = sp;
  // Command name, and the real name after UID.
  for (int word = 0; word < 2; ++word) {
    if (pos_ >= in_.size() || in_[pos_] != ' ') {
      fail("Missing command");
      return std::move(cmd_);
    }
    ++pos_;
    const std::size_t start = pos_;
    while (pos_ < in_.size() && is_atom_char(in_[pos_])) ++pos_;
    if (pos_ == start || !(pos_ == in_.size() || in_[pos_] == ' ' || at_end_of_command())) {
      fail("Invalid command name");
      return std::move(cmd_);
    }
    std::string name(in_.substr(start, pos_ - start));
    for (char& c : name) c = to_upper(c);
    if (word == 0 && name == "UID") {
      cmd_.uid = true;
      continue;
    }
    cmd_.name = std::move(name);
    break;
  }
  if (parse_arguments() && !stack_.empty()) {
    fail(stack_.back().close == ')' ? "Unbalanced parentheses: missing )" : "Missing ] in section");
  }
  if (!cmd_.ok()) cmd_.args.clear();
  return std::move(cmd_);
}

bool Parser::parse_arguments() {
  // After the command name: (SP value)* with lists and sections nested.
  bool need_separator = true;  // a value just ended (or the command name)
  while (!at_end_of_command()) {
    const unsigned char c = static_cast<unsigned char>(in_[pos_]);
    if (c == ' ') {
      while (pos_ < in_.size() && in_[pos_] == ' ') ++pos_;
      need_separator = false;
      continue;
    }
    if (c == ')' || (c == ']' && !stack_.empty() && stack_.back().close == ']')) {
      if (stack_.empty() || stack_.back().close != static_cast<char>(c)) {
        return fail(c == ')' ? "Unbalanced parentheses: unexpected )" : "Unexpected ]");
      }
      if (!close_frame()) return false;
      need_separator = true;
      continue;
    }
    if (need_separator) return fail("Missing space between arguments");
    need_separator = true;
    if (c == '(') {
      if (stack_.size() >= limits_.max_depth) return fail("Nesting too deep");
      if (++values_ > limits_.max_values) return fail("Too many arguments");
      Frame f{Value{}, pos_, ')'};
      f.value.kind = Value::Kind::list;
      stack_.push_back(std::move(f));
      ++pos_;
      need_separator = false;  // "(" may be followed directly by a value
      continue;
    }
    bool ok = false;
    if (c == '"') {
      ok = parse_quoted();
    } else if (c == '{' || c == '~') {
      if (c == '~' && (pos_ + 1 >= in_.size() || in_[pos_ + 1] != '{')) {
        ok = parse_atom_or_section();
      } else {
        ok = parse_literal();
      }
    } else if (is_token_char(c, in_section())) {
      ok = parse_atom_or_section();
    } else if (c == '\r' || c == '\n') {
      return fail("Line break outside a literal");
    } else if (c == 0) {
      return fail("NUL character in command");
    } else if (c >= 0x80) {
      return fail("8-bit character outside a quoted string or literal");
    } else if (is_ctl(c)) {
      return fail("Control character in command");
    } else {
      return fail(std::string("Unexpected character ") + static_cast<char>(c));
    }
    if (!ok) return false;
    if (opened_section_) {
      opened_section_ = false;
      need_separator = false;  // "BODY[" may be followed directly by a value
    }
  }
  return true;
}

bool Parser::close_frame() {
  Frame f = std::move(stack_.back());
  stack_.pop_back();
  ++pos_;  // past ")" or "]"
  if (f.close == ']' && !parse_partial(f.value)) return false;
  f.value.raw = in_.substr(f.start, pos_ - f.start);
  target().push_back(std::move(f.value));  // counted when opened
  return true;
}

bool Parser::parse_partial(Value& section) {
  if (pos_ >= in_.size() || in_[pos_] != '<') return true;
  const std::size_t close = in_.find('>', pos_);
  if (close == std::string_view::npos) return fail("Missing > in partial");
  const auto inner = in_.substr(pos_ + 1, close - pos_ - 1);
  const auto dot = inner.find('.');
  const auto origin = parse_u64(inner.substr(0, dot));
  if (!origin || *origin > std::numeric_limits<std::uint32_t>::max()) return fail("Invalid partial");
  Partial p;
  p.origin = static_cast<std::uint32_t>(*origin);
  if (dot != std::string_view::npos) {
    const auto count = parse_u64(inner.substr(dot + 1));
    if (!count || *count > std::numeric_limits<std::uint32_t>::max()) return fail("Invalid partial");
    p.count = static_cast<std::uint32_t>(*count);
  }
  section.partial = p;
  pos_ = close + 1;
  return true;
}

bool Parser::parse_quoted() {
  const std::size_t start = pos_;
  Value v;
  v.kind = Value::Kind::quoted;
  ++pos_;
  while (true) {
    if (pos_ >= in_.size()) return fail("Unterminated quoted string");
    const char c = in_[pos_];
    if (c == '"') break;
    if (c == '\\') {
      if (pos_ + 1 >= in_.size()) return fail("Unterminated quoted string");
      const char e = in_[pos_ + 1];
      if (e != '"' && e != '\\') return fail("Invalid escape in quoted string");
      v.text.push_back(e);
      pos_ += 2;
      continue;
    }
    if (c == '\r' || c == '\n') return fail("Unterminated quoted string");
    if (c == '\0') return fail("NUL character in quoted string");
    // 8-bit is kept: UTF8=ACCEPT (RFC 6855) allows it; the command decides.
    v.text.push_back(c);
    ++pos_;
  }
  ++pos_;
  v.raw = in_.substr(start, pos_ - start);
  return add(std::move(v));
}

bool Parser::parse_literal() {
  const std::size_t start = pos_;
  Value v;
  v.kind = Value::Kind::literal;
  if (in_[pos_] == '~') {
    v.binary = true;
    ++pos_;
  }
  ++pos_;  // "{"
  const std::size_t digits = pos_;
  while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
  const auto size = parse_u64(in_.substr(digits, pos_ - digits));
  if (pos_ < in_.size() && in_[pos_] == '+') {
    v.non_synchronizing = true;
    ++pos_;
  }
  if (pos_ >= in_.size() || in_[pos_] != '}' || !size) return fail("Invalid literal");
  ++pos_;
  if (in_.substr(pos_, 2) == "\r\n") {
    pos_ += 2;
  } else if (pos_ < in_.size() && in_[pos_] == '\n') {
    pos_ += 1;
  } else {
    return fail("Literal announcement must end the line");
  }
  if (*size > in_.size() - pos_) return fail("Literal is shorter than announced");
  v.literal = in_.substr(pos_, static_cast<std::size_t>(*size));
  pos_ += static_cast<std::size_t>(*size);
  v.raw = in_.substr(start, pos_ - start);
  return add(std::move(v));
}

bool Parser::parse_atom_or_section() {
  const std::size_t start = pos_;
  const bool section_ctx = in_section();
  while (pos_ < in_.size()) {
    const unsigned char c = static_cast<unsigned char>(in_[pos_]);
    if (c == '[' && takes_section(in_.substr(start, pos_ - start))) {
      if (stack_.size() >= limits_.max_depth) return fail("Nesting too deep");
      if (++values_ > limits_.max_values) return fail("Too many arguments");
      Frame f{Value{}, start, ']'};
      f.value.kind = Value::Kind::section;
      f.value.text = std::string(in_.substr(start, pos_ - start));
      stack_.push_back(std::move(f));
      ++pos_;
      opened_section_ = true;
      return true;
    }
    if (!is_token_char(c, section_ctx)) break;
    ++pos_;
  }
  if (pos_ < in_.size()) {
    const unsigned char c = static_cast<unsigned char>(in_[pos_]);
    if (c >= 0x80) return fail("8-bit character in atom");
    if (c == 0 || (is_ctl(c) && c != '\r' && c != '\n')) return fail("Control character in atom");
  }
  Value v;
  v.raw = in_.substr(start, pos_ - start);
  v.text = std::string(v.raw);
  if (iequal(v.text, "NIL")) {
    v.kind = Value::Kind::nil;
  } else if (const auto n = parse_u64(v.text)) {
    v.kind = Value::Kind::number;
    v.number = *n;
  } else {
    v.kind = Value::Kind::atom;
  }
  return add(std::move(v));
}

}  // namespace

std::string_view Value::str() const {
  switch (kind) {
    case Kind::literal:
      return literal;
    case Kind::list:
      return {};
    case Kind::section:
      return raw;
    default:
      return text;
  }
}

bool Value::is_word(std::string_view word) const { return is_atom_like() && iequal(text, word); }

ParsedCommand parse_command(std::string_view full, const LexerLimits& limits) {
  Parser p(full, limits);
  return p.run();
}

std::optional<LiteralSpec> trailing_literal(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty() || line.back() != '}') return std::nullopt;
  // A "{n}" inside a quoted string is no announcement: find whether the end
  // of the line is inside quotes (a quoted string cannot span lines).
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '\\' && i + 1 < line.size()) {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    }
  }
  if (quoted) return std::nullopt;
  line.remove_suffix(1);  // "}"
  LiteralSpec spec;
  if (!line.empty() && line.back() == '+') {
    spec.non_synchronizing = true;
    line.remove_suffix(1);
  }
  std::size_t digits = 0;
  while (digits < line.size() && line[line.size() - 1 - digits] >= '0' &&
         line[line.size() - 1 - digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits == line.size() || line[line.size() - 1 - digits] != '{') {
    return std::nullopt;
  }
  const auto number = line.substr(line.size() - digits);
  const auto value = parse_u64(number);
  spec.bytes = value ? *value : std::numeric_limits<std::uint64_t>::max();
  const std::size_t brace = line.size() - 1 - digits;
  spec.binary = brace > 0 && line[brace - 1] == '~';
  return spec;
}

bool is_atom_char(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '(':
    case ')':
    case '{':
    case '%':
    case '*':
    case '"':
    case '\\':
    case ']':
      return false;
    default:
      return true;
  }
}

bool is_astring_char(char c) { return c == ']' || is_atom_char(c); }

bool is_valid_tag(std::string_view tag) {
  if (tag.empty()) return false;
  for (char c : tag) {
    if (c == '+' || !is_astring_char(c)) return false;
  }
  return true;
}

}  // namespace imapd
