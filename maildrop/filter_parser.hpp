// maildrop/filter_parser.hpp: lexer and recursive-descent parser for the
// maildrop filter language; the grammar is in doc/maildropfilter.5.
// Pure: text in, a Program or a syntax error (with its line) out; no I/O.
// SECURITY: parses a user's .mailfilter as that user; hard limits on nesting
// depth and token length keep hostile input from exhausting the stack.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "maildrop/filter_ast.hpp"

namespace maildrop {

inline constexpr int max_nesting_depth = 100;
inline constexpr std::size_t max_filter_bytes = 1024 * 1024;

struct SyntaxError {
  int line = 0;
  std::string message;
};

enum class TokenKind {
  end, newline, semicolon, lbrace, rbrace, lparen, rparen, comma,
  op,        // text: one of || && ! < <= > >= == != =~ = + - * /
  number,    // text
  string,    // parts: "..." (interpolated)
  literal,   // text: '...'
  command,   // parts: `...`
  variable,  // text: $NAME or ${NAME}
  word,      // parts: a bare word, possibly with $VAR inside; text: the raw word
  pattern,   // pattern
};

struct Token {
  TokenKind kind = TokenKind::end;
  int line = 1;
  std::string text;
  Interpolated parts;
  Pattern pattern;
};

// Where an operand may start, '/' begins a pattern; elsewhere it divides.
enum class LexMode { operand, operator_ };

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(source) {}
  // The next token; a SyntaxError if the text cannot be a token.
  std::variant<Token, SyntaxError> next(LexMode mode);
  std::size_t position() const { return pos_; }
  int line() const { return line_; }
  void rewind(std::size_t pos, int line) { pos_ = pos; line_ = line; }

 private:
  std::variant<Token, SyntaxError> quoted(char quote, TokenKind kind, int line);
  std::variant<Token, SyntaxError> pattern(int line);
  void skip_blanks();

  std::string_view src_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

// Splits "text $NAME ${NAME} \$" into parts. In patterns (regex = true) only
// ${NAME} is a variable and backslashes are kept for PCRE2.
std::variant<Interpolated, std::string> split_interpolation(std::string_view text, bool regex);

// Parses a whole filter file.
std::variant<Program, SyntaxError> parse_filter(std::string_view source, std::string file_name);

}  // namespace maildrop
