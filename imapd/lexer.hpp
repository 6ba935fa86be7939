// imapd/lexer.hpp: the IMAP command parser (RFC 3501 section 9, RFC 7888
// LITERAL+, RFC 3516 literal8). Pure: bytes of one complete command in,
// tag + command name + argument values or a syntax error out; no I/O.
//   - atoms (with the flag "\Seen", sequence-set and LIST-pattern characters
//     allowed, as every server must accept them where the grammar puts them),
//     numbers, quoted strings with \\ and \" escapes, literals {n}, {n+},
//     ~{n}, NIL, parenthesised lists;
//   - FETCH attributes BODY[...]<o.c>, BODY.PEEK[...], BINARY[...],
//     BINARY.PEEK[...], BINARY.SIZE[...] as one "section" value whose bracket
//     contents are parsed as values too ("HEADER.FIELDS" (From To)).
// Iterative (no recursion), with limits on nesting and on the number of
// values, so hostile input is an error, never a crash or a deep stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imapd {

// "<origin.count>" after a BODY[...]/BINARY[...] section (RFC 3501 6.4.5).
struct Partial {
  std::uint32_t origin = 0;
  std::optional<std::uint32_t> count;  // absent for "<origin>"
};

// One argument of a command. Atoms, numbers, NIL and quoted strings own their
// text; a literal's bytes are a view into the command text given to
// parse_command(), which must outlive the Value.
struct Value {
  enum class Kind {
    atom,     // 1*ATOM-CHAR (plus "\", "*", "%", "]", "[" as clients send them)
    number,   // an atom of digits that fits in 64 bits; `number` holds it
    quoted,   // "..." with escapes removed
    literal,  // {n}\r\n<n bytes>, {n+} (LITERAL+) or ~{n} (binary, RFC 3516)
    nil,      // the atom NIL, any case
    list,     // ( values )
    section,  // BODY[...]<...> and friends: `text` is the name before "[",
              // `items` the values between the brackets, `partial` the <..>
  };
  Kind kind = Kind::atom;
  std::string text;           // atom/number/nil: as written; quoted: unescaped;
                              // section: the attribute name as written ("body.peek")
  std::string_view literal;   // literal: its bytes (view into the command text)
  bool binary = false;        // literal: written as ~{n}
  bool non_synchronizing = false;  // literal: written as {n+}
  std::uint64_t number = 0;   // number: the value
  std::vector<Value> items;   // list: elements; section: bracket contents
  std::optional<Partial> partial;  // section: "<origin.count>"
  std::string_view raw;       // the whole token as written (view into the command text);
                              // for a list, from "(" to ")"

  bool is_list() const { return kind == Kind::list; }
  // Atom, number, NIL (as an atom), quoted or literal: what RFC 3501 calls an
  // astring. A section (BODY[x]) is one too, by its raw text, so that a
  // mailbox called "BODY[x]" still works unquoted.
  bool is_astring() const { return kind != Kind::list; }
  // quoted or literal (RFC 3501 "string").
  bool is_string() const { return kind == Kind::quoted || kind == Kind::literal; }
  bool is_atom_like() const {  // atom, number or nil
    return kind == Kind::atom || kind == Kind::number || kind == Kind::nil;
  }
  // The text of an astring: the literal bytes, the unescaped quoted string,
  // the atom as written, the raw text of a section. Empty for a list.
  std::string_view str() const;
  // Case-insensitive comparison of an atom-like value with `word`.
  bool is_word(std::string_view word) const;
};

struct LexerLimits {
  std::size_t max_depth = 64;        // nested "(" and "[" together
  std::size_t max_values = 100000;   // values in the whole command, lists included
};

struct ParsedCommand {
  std::string tag;      // empty when no valid tag could be read
  std::string name;     // command name upper-cased ("FETCH"; "UID FETCH" -> "FETCH")
  bool uid = false;     // the command was prefixed with UID
  std::vector<Value> args;
  // Empty when the command parsed; otherwise a short text for the BAD reply.
  // With an error, `tag` is still set when it was readable, so the reply can
  // be "<tag> BAD ..."; otherwise it must be "* BAD ...".
  std::string error;

  bool ok() const { return error.empty(); }
};

// Parses one complete command: `full` is what the client sent, literal
// contents embedded as on the wire ("a1 LOGIN {5}\r\nalice {3+}\r\npwd"), a
// final CRLF or LF optional. Values are separated by single spaces (runs of
// spaces are tolerated). Values of Kind::literal point into `full`.
// Errors: invalid tag, missing command name, unbalanced parentheses or
// brackets, unterminated quoted string, CR/LF/NUL or 8-bit bytes outside a
// literal, a literal whose announced size exceeds the remaining bytes,
// nesting or value count over `limits`.
ParsedCommand parse_command(std::string_view full, const LexerLimits& limits = {});

// A literal announced at the end of a line.
struct LiteralSpec {
  // Announced size; saturated to UINT64_MAX when the number does not fit,
  // so the caller's "over the limit" check refuses it.
  std::uint64_t bytes = 0;
  bool non_synchronizing = false;  // {n+} (RFC 7888)
  bool binary = false;             // ~{n} (RFC 3516)
};

// For the session's line reader: whether `line` (one line of a command, a
// trailing CRLF or LF allowed, starting at the beginning of the command or
// just after a literal's bytes) ends with a literal announcement "{n}",
// "{n+}" or "~{n}" outside a quoted string. Numbers of more than 20 digits
// count as overflow (bytes = UINT64_MAX); "{}" or "{+}" is no announcement.
std::optional<LiteralSpec> trailing_literal(std::string_view line);

// RFC 3501 ATOM-CHAR: any CHAR except atom-specials.
bool is_atom_char(char c);
// RFC 3501 ASTRING-CHAR: ATOM-CHAR or "]".
bool is_astring_char(char c);
// A valid command tag: 1*<ASTRING-CHAR except "+">.
bool is_valid_tag(std::string_view tag);

}  // namespace imapd
