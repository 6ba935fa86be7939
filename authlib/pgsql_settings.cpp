// authlib/pgsql_settings.cpp: the pure half of authpgsql (see
// module_pgsql.hpp): authpgsqlrc settings, translating Courier's clauses into
// parameterised statements, and turning a row into an account. No connection
// is made here (libpq only parses a conninfo string to describe the server);
// module_pgsql.cpp holds the connection and the module.
#include "authlib/module_pgsql.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <utility>

#include <poll.h>
#include <sys/stat.h>

#include "authlib/password.hpp"
#include "lib/c_handle.hpp"
#include "lib/log.hpp"

namespace authlib {
namespace pgsql {

namespace {

using namespace detail;

using PgConnInfo = lib::CHandle<PQconninfoOption, PQconninfoFree>;
using PgMem = lib::CHandle<char, PQfreemem>;

constexpr std::array<Placeholder, 3> lookup_placeholders{Placeholder::local_part, Placeholder::domain,
                                                         Placeholder::service};
constexpr std::array<Placeholder, 5> chpass_placeholders{Placeholder::local_part, Placeholder::domain,
                                                         Placeholder::service, Placeholder::newpass,
                                                         Placeholder::newpass_crypt};

// ---------------------------------------------------------------------------
// Small text helpers

bool is_ascii_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
// PostgreSQL's scan.l: ident_start [A-Za-z\200-\377_], ident_cont adds [0-9$].
bool is_ident_start(unsigned char c) { return is_ascii_alpha(c) || c == '_' || c >= 0x80; }
bool is_ident_cont(unsigned char c) { return is_ident_start(c) || is_digit(c) || c == '$'; }
bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

}  // namespace

bool detail::has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return is_control(static_cast<unsigned char>(c)); });
}

// Text from libpq or the server, on one line: newlines become "; ".
std::string detail::one_line(std::string_view text) {
  std::string out;
  bool line_start = false;  // skip the indentation libpq puts after a newline
  for (char c : text) {
    if (c == '\n' || c == '\r') {
      while (!out.empty() && out.back() == ' ') out.pop_back();
      if (!out.empty() && out.back() != ';') out += "; ";
      line_start = true;
    } else if (c == '\t' || c == ' ') {
      if (!line_start && !out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
      line_start = false;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

// Every occurrence of each secret replaced by ***.
std::string detail::scrub(std::string text, std::span<const std::string_view> secrets) {
  for (std::string_view s : secrets) {
    if (s.empty()) continue;
    for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  }
  return text;
}

// A value shown in a reason: at most 64 bytes, control characters escaped.
std::string detail::shown(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 64)) {
    auto u = static_cast<unsigned char>(c);
    if (is_control(u)) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  if (value.size() > 64) out += "...";
  return out;
}

namespace {


}  // namespace

std::string detail::seconds_text(std::chrono::seconds s) { return std::to_string(s.count()) + " s"; }

namespace {

// ---------------------------------------------------------------------------
// Clause translation

struct Piece {
  bool is_parameter = false;
  std::string text;  // raw literal text between placeholders, as written
  Placeholder placeholder = Placeholder::local_part;
};

class Translator {
 public:
  Translator(std::string_view clause, std::string_view setting, std::span<const Placeholder> allowed,
             size_t first_parameter)
      : in_(clause), setting_(setting), allowed_(allowed), first_(first_parameter) {}

  lib::Result<Statement> run() {
    if (in_.size() > max_clause_bytes)
      return fail("is " + std::to_string(in_.size()) + " bytes long; the limit is " +
                  std::to_string(max_clause_bytes));
    size_t i = 0;
    while (i < in_.size()) {
      const auto c = static_cast<unsigned char>(in_[i]);
      std::optional<lib::Error> err;
      if (c == '\'') {
        err = string_literal(i, "", false, true);
      } else if (c == '"') {
        err = quoted_identifier(i);
      } else if (c == '-' && next_is(i, '-')) {
        size_t end = in_.find('\n', i);
        end = end == std::string_view::npos ? in_.size() : end;
        out_.append(in_.substr(i, end - i));
        i = end;
        continue;
      } else if (c == '/' && next_is(i, '*')) {
        err = block_comment(i);
      } else if (c == '$') {
        err = dollar(i);
      } else if (is_digit(c)) {
        size_t end = i;
        while (end < in_.size() && (is_ident_cont(static_cast<unsigned char>(in_[end])) ||
                                    in_[end] == '.') &&
               !placeholder_at(end))
          ++end;
        out_.append(in_.substr(i, end - i));
        i = end;
        continue;
      } else if (is_ident_start(c)) {
        err = word(i);
      } else {
        out_ += in_[i];
        ++i;
        continue;
      }
      if (err) return *err;
      i = pos_;
    }
    return Statement{std::move(out_), std::move(params_)};
  }

 private:
  lib::Error fail(const std::string& what) const {
    return lib::permanent_error(std::string(setting_) + ": " + what);
  }
  std::string at(size_t i) const { return "at character " + std::to_string(i + 1); }
  bool next_is(size_t i, char c) const { return i + 1 < in_.size() && in_[i + 1] == c; }
  bool placeholder_at(size_t i) const { return in_[i] == '$' && next_is(i, '('); }

  std::string allowed_list() const {
    std::string out;
    for (Placeholder p : allowed_) {
      if (!out.empty()) out += ", ";
      out += "$(" + std::string(placeholder_name(p)) + ")";
    }
    return out;
  }

  // Parses $(name) at i; on success sets pos_ after the ')' and returns the placeholder.
  std::variant<Placeholder, lib::Error> placeholder(size_t i) {
    size_t j = i + 2;
    while (j < in_.size() && (is_ascii_alpha(static_cast<unsigned char>(in_[j])) ||
                              is_digit(static_cast<unsigned char>(in_[j])) || in_[j] == '_'))
      ++j;
    if (j >= in_.size() || in_[j] != ')')
      return fail("\"$(\" " + at(i) + " is not closed by \")\": placeholders are written " +
                  allowed_list());
    std::string_view name = in_.substr(i + 2, j - i - 2);
    if (name.empty()) return fail("empty placeholder \"$()\" " + at(i) + "; use " + allowed_list());
    if (name.size() > max_placeholder_name_bytes)
      return fail("placeholder name " + at(i) + " is longer than " +
                  std::to_string(max_placeholder_name_bytes) + " characters");
    for (Placeholder p : allowed_) {
      if (placeholder_name(p) == name) {
        pos_ = j + 1;
        return p;
      }
    }
    return fail("unknown placeholder $(" + std::string(name) + ") " + at(i) + "; this setting may use " +
                allowed_list());
  }

  std::optional<lib::Error> add_parameter(Placeholder p, std::string& out, bool typed) {
    if (params_.size() >= max_parameters)
      return fail("has more than " + std::to_string(max_parameters) + " placeholders");
    params_.push_back(p);
    out += '$';
    out += std::to_string(first_ + params_.size() - 1);
    if (typed) out += "::text";
    return std::nullopt;
  }

  // Keeps "$1" from running into a name or number on either side.
  void space_before_parameter() {
    if (!out_.empty() && is_ident_cont(static_cast<unsigned char>(out_.back()))) out_ += ' ';
  }
  void space_after_parameter() {
    if (pos_ < in_.size() && is_ident_cont(static_cast<unsigned char>(in_[pos_]))) out_ += ' ';
  }

  std::optional<lib::Error> forbid_placeholders(size_t begin, size_t end, const std::string& inside) {
    size_t p = in_.substr(0, end).find("$(", begin);
    if (p == std::string_view::npos) return std::nullopt;
    return fail("placeholder " + at(p) + " is inside " + inside +
                ", where it cannot become a parameter; write it in a plain '...' string or "
                "outside quotes");
  }

  // A string literal whose opening quote is at q; prefix ("", "E", "N", "B", "X",
  // "U&") was already consumed by the caller. backslash: E'' escapes.
  // splittable: placeholders are allowed inside (plain and E strings).
  std::optional<lib::Error> string_literal(size_t q, std::string_view prefix, bool backslash,
                                           bool splittable) {
    std::vector<Piece> pieces;
    std::string text;
    size_t j = q + 1;
    const size_t start = q - prefix.size();
    while (true) {
      if (j >= in_.size()) return fail("string literal " + at(start) + " is not closed by '");
      const char c = in_[j];
      if (backslash && c == '\\') {
        if (j + 1 >= in_.size()) return fail("string literal " + at(start) + " is not closed by '");
        text.append(in_.substr(j, 2));
        j += 2;
      } else if (c == '\'') {
        if (next_is(j, '\'')) {
          text += "''";
          j += 2;
        } else {
          break;
        }
      } else if (placeholder_at(j)) {
        if (!splittable)
          return fail("placeholder " + at(j) + " is inside a " + std::string(prefix) +
                      "'...' literal, where it cannot become a parameter; use a plain '...' string");
        auto p = placeholder(j);
        if (auto* e = std::get_if<lib::Error>(&p)) return *e;
        if (!text.empty()) pieces.push_back(Piece{false, std::move(text), {}});
        text.clear();
        pieces.push_back(Piece{true, {}, std::get<Placeholder>(p)});
        j = pos_;
      } else {
        text += c;
        ++j;
      }
    }
    pos_ = j + 1;  // after the closing quote
    const bool any_parameter =
        std::any_of(pieces.begin(), pieces.end(), [](const Piece& p) { return p.is_parameter; });
    if (!any_parameter) {
      out_.append(in_.substr(start, pos_ - start));
      return std::nullopt;
    }
    if (!text.empty()) pieces.push_back(Piece{false, std::move(text), {}});
    if (pieces.size() == 1) {
      // '$(local_part)' alone: an untyped parameter, resolved exactly as the
      // literal Courier pasted would be (so citext, char(n) and integer
      // comparisons keep their meaning).
      space_before_parameter();
      if (auto e = add_parameter(pieces.front().placeholder, out_, false)) return e;
      space_after_parameter();
      return std::nullopt;
    }
    // 'x$(a)y' -> ('x' || $1::text || 'y'): text pieces keep their prefix and escapes.
    out_ += '(';
    bool first = true;
    for (const Piece& p : pieces) {
      if (!first) out_ += " || ";
      first = false;
      if (p.is_parameter) {
        if (auto e = add_parameter(p.placeholder, out_, true)) return e;
      } else {
        out_ += prefix;
        out_ += '\'';
        out_ += p.text;
        out_ += '\'';
      }
    }
    out_ += ')';
    return std::nullopt;
  }

  std::optional<lib::Error> quoted_identifier(size_t q) {
    size_t j = q + 1;
    while (true) {
      size_t close = in_.find('"', j);
      if (close == std::string_view::npos)
        return fail("quoted identifier " + at(q) + " is not closed by \"");
      if (next_is(close, '"')) {
        j = close + 2;
        continue;
      }
      if (auto e = forbid_placeholders(q, close, "a \"quoted identifier\" (string literals use "
                                                 "single quotes in SQL)"))
        return e;
      pos_ = close + 1;
      out_.append(in_.substr(q, pos_ - q));
      return std::nullopt;
    }
  }

  std::optional<lib::Error> block_comment(size_t i) {
    int depth = 0;
    size_t j = i;
    while (j < in_.size()) {
      if (in_[j] == '/' && next_is(j, '*')) {
        ++depth;
        j += 2;
      } else if (in_[j] == '*' && next_is(j, '/')) {
        j += 2;
        if (--depth == 0) {
          out_.append(in_.substr(i, j - i));
          pos_ = j;
          return std::nullopt;
        }
      } else {
        ++j;
      }
    }
    return fail("comment " + at(i) + " is not closed by */");
  }

  std::optional<lib::Error> dollar(size_t i) {
    if (next_is(i, '(')) {
      auto p = placeholder(i);
      if (auto* e = std::get_if<lib::Error>(&p)) return *e;
      space_before_parameter();
      if (auto e = add_parameter(std::get<Placeholder>(p), out_, false)) return e;
      space_after_parameter();
      return std::nullopt;
    }
    if (i + 1 < in_.size() && is_digit(static_cast<unsigned char>(in_[i + 1])))
      return fail("positional parameter \"$" + std::string(1, in_[i + 1]) + "...\" " + at(i) +
                  " is reserved for authpgsql; write " + allowed_list() + " instead");
    // $tag$ ... $tag$ (tag may be empty).
    size_t k = i + 1;
    if (k < in_.size() && is_ident_start(static_cast<unsigned char>(in_[k]))) {
      while (k < in_.size() && is_ident_cont(static_cast<unsigned char>(in_[k])) && in_[k] != '$') ++k;
    }
    if (k < in_.size() && in_[k] == '$') {
      std::string_view tag = in_.substr(i, k - i + 1);
      size_t close = in_.find(tag, k + 1);
      if (close == std::string_view::npos)
        return fail("dollar-quoted string " + at(i) + " is not closed by " + std::string(tag));
      if (auto e = forbid_placeholders(k + 1, close, "a dollar-quoted string")) return e;
      pos_ = close + tag.size();
      out_.append(in_.substr(i, pos_ - i));
      return std::nullopt;
    }
    out_ += '$';
    pos_ = i + 1;
    return std::nullopt;
  }

  // A name or keyword at i; E'', N'', B'', X'' and U&'' literals start like one.
  std::optional<lib::Error> word(size_t i) {
    size_t end = i;
    while (end < in_.size() && is_ident_cont(static_cast<unsigned char>(in_[end])) && !placeholder_at(end))
      ++end;
    std::string_view w = in_.substr(i, end - i);
    const bool quote_follows = end < in_.size() && in_[end] == '\'';
    if (w.size() == 1 && quote_follows) {
      switch (w[0]) {
        case 'E':
        case 'e':
          return string_literal(end, w, true, true);
        case 'N':
        case 'n':
        case 'B':
        case 'b':
        case 'X':
        case 'x':
          return string_literal(end, w, false, false);
        default:
          break;
      }
    }
    if (w.size() == 1 && (w[0] == 'U' || w[0] == 'u') && end + 1 < in_.size() && in_[end] == '&') {
      if (in_[end + 1] == '\'') {
        pos_ = end + 1;
        return string_literal(end + 1, in_.substr(i, 2), false, false);
      }
      if (in_[end + 1] == '"') {
        out_.append(in_.substr(i, 2));
        return quoted_identifier(end + 1);
      }
    }
    out_.append(w);
    pos_ = end;
    return std::nullopt;
  }

  std::string_view in_;
  std::string_view setting_;
  std::span<const Placeholder> allowed_;
  size_t first_;
  size_t pos_ = 0;
  std::string out_;
  std::vector<Placeholder> params_;
};

// ---------------------------------------------------------------------------
// Identifiers and constants from the *_FIELD / *_TABLE settings

// name ("." name)* with name = plain identifier (folded to lower case) or
// "quoted identifier"; each emitted double-quoted. nullopt if malformed.
std::optional<std::string> identifier_chain(std::string_view v, size_t max_parts) {
  std::string out;
  size_t parts = 0;
  size_t i = 0;
  while (true) {
    if (i >= v.size()) return std::nullopt;
    std::string part;
    if (v[i] == '"') {
      ++i;
      while (true) {
        if (i >= v.size()) return std::nullopt;
        if (v[i] == '"') {
          if (i + 1 < v.size() && v[i + 1] == '"') {
            part += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (is_control(static_cast<unsigned char>(v[i]))) return std::nullopt;
        part += v[i++];
      }
      if (part.empty()) return std::nullopt;
    } else {
      // Plain names: ASCII only, so the folding below is exactly PostgreSQL's.
      const auto c = static_cast<unsigned char>(v[i]);
      if (!is_ascii_alpha(c) && c != '_') return std::nullopt;
      while (i < v.size()) {
        const auto d = static_cast<unsigned char>(v[i]);
        if (!is_ascii_alpha(d) && !is_digit(d) && d != '_' && d != '$') break;
        part += static_cast<char>(std::tolower(d));
        ++i;
      }
    }
    if (part.size() > 63) return std::nullopt;  // NAMEDATALEN - 1: longer names are cut
    if (++parts > max_parts) return std::nullopt;
    if (!out.empty()) out += '.';
    out += '"';
    for (char c : part) {
      out += c;
      if (c == '"') out += '"';
    }
    out += '"';
    if (i == v.size()) return out;
    if (v[i] != '.') return std::nullopt;
    ++i;
  }
}

struct ColumnSql {
  std::string sql;
  bool is_column = false;  // a name (may be assigned in UPDATE), not a constant
};

std::optional<ColumnSql> column_or_constant(std::string_view v) {
  if (!v.empty() && v.size() <= 20 && std::all_of(v.begin(), v.end(), [](char c) {
        return is_digit(static_cast<unsigned char>(c));
      }))
    return ColumnSql{std::string(v), false};
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
    std::string_view body = v.substr(1, v.size() - 2);
    if (std::any_of(body.begin(), body.end(), [](char c) {
          return c == '\'' || c == '\\' || is_control(static_cast<unsigned char>(c));
        }))
      return std::nullopt;
    return ColumnSql{std::string(v), false};
  }
  if (auto id = identifier_chain(v, 3)) return ColumnSql{std::move(*id), true};
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Settings helpers

std::optional<std::string> nonempty(const lib::Config& rc, std::string_view name) {
  auto v = rc.get(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

std::string origin_of(const lib::Config& rc, std::string_view name) {
  return std::string(name) + " (" + rc.where(name) + ")";
}

constexpr std::array<std::string_view, 29> known_settings{
    "PGSQL_CONNECTION",      "PGSQL_HOST",           "PGSQL_PORT",
    "PGSQL_USERNAME",        "PGSQL_PASSWORD",       "PGSQL_DATABASE",
    "PGSQL_OPT",             "PGSQL_CHARACTER_SET",  "PGSQL_USER_TABLE",
    "PGSQL_LOGIN_FIELD",     "PGSQL_CRYPT_PWFIELD",  "PGSQL_CLEAR_PWFIELD",
    "PGSQL_UID_FIELD",       "PGSQL_GID_FIELD",      "PGSQL_HOME_FIELD",
    "PGSQL_MAILDIR_FIELD",   "PGSQL_DEFAULTDELIVERY", "PGSQL_QUOTA_FIELD",
    "PGSQL_NAME_FIELD",      "PGSQL_AUXOPTIONS_FIELD", "PGSQL_AUXOPTIONS",
    "PGSQL_WHERE_CLAUSE",    "DEFAULT_DOMAIN",       "PGSQL_DEFAULT_DOMAIN",
    "PGSQL_SELECT_CLAUSE",   "PGSQL_ENUMERATE_CLAUSE", "PGSQL_CHPASS_CLAUSE",
    "PGSQL_CONNECT_TIMEOUT", "PGSQL_STATEMENT_TIMEOUT"};

// Either of two names for one setting (Courier's and ours); the first wins.
std::optional<std::string> either(lib::Config& rc, std::string_view preferred, std::string_view other,
                                  std::string& origin) {
  auto a = nonempty(rc, preferred);
  auto b = nonempty(rc, other);
  if (a && b && *a != *b)
    rc.add_warning(rc.where(preferred) + ": " + std::string(preferred) + " and " + std::string(other) +
                   " (" + rc.where(other) + ") are both set and differ; using " +
                   std::string(preferred) + ": remove one of them");
  if (a) {
    origin = origin_of(rc, preferred);
    return a;
  }
  if (b) origin = origin_of(rc, other);
  return b;
}

// libpq's parse error, with quoted words hidden: they may be part of a password.
std::string hide_quoted_words(std::string_view msg) {
  std::string out;
  size_t i = 0;
  while (i < msg.size()) {
    size_t q = msg.find('"', i);
    if (q == std::string_view::npos) {
      out.append(msg.substr(i));
      break;
    }
    size_t close = msg.find('"', q + 1);
    if (close == std::string_view::npos) {
      out.append(msg.substr(i));
      break;
    }
    out.append(msg.substr(i, q - i));
    std::string_view word = msg.substr(q, close - q + 1);
    out.append(word == "\"=\"" ? std::string(word) : std::string("\"(hidden)\""));
    i = close + 1;
  }
  return one_line(out);
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  if (s.empty()) return out;
  size_t i = 0;
  while (true) {
    size_t c = s.find(',', i);
    out.push_back(s.substr(i, c == std::string_view::npos ? std::string_view::npos : c - i));
    if (c == std::string_view::npos) break;
    i = c + 1;
  }
  return out;
}

}  // namespace

std::string detail::describe_one(std::string_view host, std::string_view hostaddr, std::string_view port) {
  std::string p = port.empty() ? std::string("5432") : std::string(port);
  if (!hostaddr.empty()) {
    std::string out = "hostaddr " + std::string(hostaddr) + ":" + p;
    if (!host.empty()) out += " (host " + std::string(host) + ")";
    return out;
  }
  if (!host.empty() && (host.front() == '/' || host.front() == '@'))
    return "socket " + std::string(host) + "/.s.PGSQL." + p;
  if (!host.empty()) return std::string(host) + ":" + p;
  return "the default socket (port " + p + ")";
}

// ---------------------------------------------------------------------------
// Public pure functions

std::string_view placeholder_name(Placeholder p) noexcept {
  switch (p) {
    case Placeholder::local_part: return "local_part";
    case Placeholder::domain: return "domain";
    case Placeholder::service: return "service";
    case Placeholder::newpass: return "newpass";
    case Placeholder::newpass_crypt: return "newpass_crypt";
    case Placeholder::login: return "login";
  }
  return "?";
}

lib::Result<Statement> translate_clause(std::string_view clause, std::string_view setting,
                                        std::span<const Placeholder> allowed, size_t first_parameter) {
  return Translator(clause, setting, allowed, first_parameter).run();
}

lib::Result<std::string> table_sql(std::string_view value, std::string_view setting) {
  if (auto id = identifier_chain(value, 2)) return *id;
  return lib::permanent_error(std::string(setting) + ": '" + shown(value) +
                              "' is not a table name: write a name (passwd), a schema-qualified "
                              "name (mail.passwd) or a \"Quoted Name\"; for anything else set "
                              "PGSQL_SELECT_CLAUSE, PGSQL_ENUMERATE_CLAUSE and PGSQL_CHPASS_CLAUSE");
}

lib::Result<std::string> column_sql(std::string_view value, std::string_view setting) {
  if (auto c = column_or_constant(value)) return c->sql;
  return lib::permanent_error(std::string(setting) + ": '" + shown(value) +
                              "' is not a column name or a constant: write a column (uid, "
                              "\"UserId\", passwd.uid), a number (5000) or a plain string ('5000', "
                              "''); for SQL expressions write the whole query in "
                              "PGSQL_SELECT_CLAUSE");
}

std::string conninfo_from_parts(std::string_view host, std::string_view port, std::string_view user,
                                std::string_view password, std::string_view dbname,
                                std::string_view options) {
  auto quote = [](std::string_view v) {
    const bool plain = std::all_of(v.begin(), v.end(), [](char c) {
      auto u = static_cast<unsigned char>(c);
      return is_ascii_alpha(u) || is_digit(u) || std::string_view("_./@:-").find(c) != std::string_view::npos;
    });
    if (plain) return std::string(v);
    std::string out = "'";
    for (char c : v) {
      if (c == '\\' || c == '\'') out += '\\';
      out += c;
    }
    return out + "'";
  };
  std::string out;
  const std::pair<const char*, std::string_view> parts[] = {
      {"host", host}, {"port", port}, {"user", user}, {"password", password}, {"dbname", dbname},
      {"options", options}};
  for (const auto& [key, value] : parts) {
    if (value.empty()) continue;
    if (!out.empty()) out += ' ';
    out += key;
    out += '=';
    out += quote(value);
  }
  return out;
}

std::optional<std::string> describe_server(std::string_view conninfo) {
  std::string text(conninfo);
  char* err = nullptr;
  PgConnInfo opts{PQconninfoParse(text.c_str(), &err)};
  PgMem err_owner{err};
  if (!opts) return std::nullopt;
  std::string_view host, hostaddr, port;
  for (const PQconninfoOption* o = opts.get(); o->keyword; ++o) {
    if (!o->val) continue;
    std::string_view k = o->keyword;
    if (k == "host") host = o->val;
    else if (k == "hostaddr") hostaddr = o->val;
    else if (k == "port") port = o->val;
  }
  auto hosts = split_commas(host);
  auto addrs = split_commas(hostaddr);
  auto ports = split_commas(port);
  const size_t n = std::max<size_t>({hosts.size(), addrs.size(), 1});
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    std::string_view h = i < hosts.size() ? hosts[i] : std::string_view();
    std::string_view a = i < addrs.size() ? addrs[i] : std::string_view();
    std::string_view p = ports.size() == 1 ? ports[0] : i < ports.size() ? ports[i] : std::string_view();
    if (!out.empty()) out += ", ";
    out += describe_one(h, a, p);
  }
  return out;
}

LoginParts split_login(std::string_view user, std::string_view default_domain) {
  LoginParts parts;
  size_t at = user.find('@');
  if (at == std::string_view::npos) {
    parts.local_part = std::string(user);
    parts.domain = std::string(default_domain);
    parts.login = std::string(user);
    if (!default_domain.empty()) parts.login += "@" + std::string(default_domain);
  } else {
    parts.local_part = std::string(user.substr(0, at));
    parts.domain = std::string(user.substr(at + 1));
    parts.login = std::string(user);
  }
  return parts;
}

std::optional<unsigned long> parse_id(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty() || text.size() > 10) return std::nullopt;
  unsigned long value = 0;
  for (char c : text) {
    if (!is_digit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value > 4294967294UL) return std::nullopt;
  return value;
}

std::variant<Account, RowError> account_from_row(const Row& row, std::string_view requested_login,
                                                 std::span<const std::string> column_names) {
  auto label = [&](size_t i) {
    return i < column_names.size() ? column_names[i] : "column " + std::to_string(i + 1);
  };
  auto text = [&](size_t i) -> std::string_view {
    return i < row.size() && row[i] ? std::string_view(*row[i]) : std::string_view();
  };
  struct Limit {
    size_t index;
    size_t max_bytes;
    bool secret;
  };
  static constexpr Limit limits[] = {{0, max_text_field_bytes, false}, {1, max_stored_hash_bytes, true},
                                     {2, max_text_field_bytes, true},  {3, 32, false},
                                     {4, 32, false},                   {5, max_path_bytes, false},
                                     {6, max_path_bytes, false},       {7, max_text_field_bytes, false},
                                     {8, max_text_field_bytes, false}, {9, max_text_field_bytes, false}};
  for (const Limit& l : limits) {
    std::string_view v = text(l.index);
    if (v.size() > l.max_bytes)
      return RowError{label(l.index) + " holds " + std::to_string(v.size()) + " bytes; the limit is " +
                      std::to_string(l.max_bytes)};
    if (has_control(v))
      return RowError{label(l.index) + (l.secret ? std::string(" contains")
                                                 : " '" + shown(v) + "' contains") +
                      " a control character (newline, tab...), which the authdaemon protocol cannot "
                      "carry: fix the row"};
  }
  Account a;
  a.address = text(0).empty() ? std::string(requested_login) : std::string(text(0));
  a.crypted_password = std::string(text(1));
  a.clear_password = lib::Secret(text(2));
  for (size_t i : {size_t{3}, size_t{4}}) {
    if (i >= row.size() || !row[i]) return RowError{label(i) + " is NULL: every account needs a numeric " +
                                                    (i == 3 ? std::string("uid") : std::string("gid"))};
    auto id = parse_id(*row[i]);
    if (!id)
      return RowError{label(i) + " is '" + shown(*row[i]) + "', not a " + (i == 3 ? "uid" : "gid") +
                      " (a decimal number from 0 to 4294967294)"};
    if (*id == 0)
      return RowError{label(i) + " is 0 (root): mail is never read or delivered as root; give the account "
                      "its own " + (i == 3 ? "uid" : "gid")};
    if (i == 3) a.uid = static_cast<uid_t>(*id);
    else a.gid = static_cast<gid_t>(*id);
  }
  if (row.size() <= 5 || !row[5]) return RowError{label(5) + " is NULL: every account needs a home directory"};
  if (row[5]->empty()) return RowError{label(5) + " is empty: every account needs a home directory"};
  if (row[5]->front() != '/')
    return RowError{label(5) + " is '" + shown(*row[5]) + "', not an absolute path"};
  a.home = *row[5];
  a.maildir = std::string(text(6));
  a.quota = std::string(text(7));
  a.fullname = std::string(text(8));
  a.options = std::string(text(9));
  return a;
}

// ---------------------------------------------------------------------------
// Settings

lib::Result<Settings> parse_settings(lib::Config& rc, const std::string& file) {
  rc.warn_unknown(known_settings);
  Settings s;
  s.file = file;

  // Connection: Courier's PGSQL_CONNECTION, or the older separate settings.
  static constexpr std::array<std::string_view, 6> old_names{
      "PGSQL_HOST", "PGSQL_PORT", "PGSQL_USERNAME", "PGSQL_PASSWORD", "PGSQL_DATABASE", "PGSQL_OPT"};
  std::optional<std::string> first_old;
  for (std::string_view n : old_names)
    if (!first_old && nonempty(rc, n)) first_old = std::string(n);
  ConnectionSettings& c = s.connection;
  if (auto conninfo = nonempty(rc, "PGSQL_CONNECTION")) {
    c.conninfo = *conninfo;
    c.setting = origin_of(rc, "PGSQL_CONNECTION");
    if (first_old)
      rc.add_warning(rc.where(*first_old) + ": " + *first_old +
                     " is ignored because PGSQL_CONNECTION is set; remove the older PGSQL_HOST/"
                     "PGSQL_PORT/PGSQL_USERNAME/PGSQL_PASSWORD/PGSQL_DATABASE/PGSQL_OPT settings");
  } else if (first_old) {
    c.conninfo = conninfo_from_parts(rc.get_string("PGSQL_HOST", ""), rc.get_string("PGSQL_PORT", ""),
                                     rc.get_string("PGSQL_USERNAME", ""),
                                     rc.get_string("PGSQL_PASSWORD", ""),
                                     rc.get_string("PGSQL_DATABASE", ""), rc.get_string("PGSQL_OPT", ""));
    c.setting = "PGSQL_HOST/PGSQL_PORT/PGSQL_USERNAME/PGSQL_PASSWORD/PGSQL_DATABASE/PGSQL_OPT (" +
                rc.where(*first_old) + ")";
  } else {
    return lib::permanent_error(file + ": PGSQL_CONNECTION is not set: write the libpq connection "
                                "string, e.g. PGSQL_CONNECTION host=/var/run/postgresql dbname=mail "
                                "user=courier");
  }
  {
    char* err = nullptr;
    PgConnInfo opts{PQconninfoParse(c.conninfo.c_str(), &err)};
    PgMem err_owner{err};
    if (!opts)
      return lib::permanent_error(
          c.setting + ": not a valid libpq connection string: " +
          (err ? hide_quoted_words(err) : std::string("out of memory")) +
          " (quoted words are hidden: they may be part of the password); write keyword=value "
          "pairs such as host=/var/run/postgresql dbname=mail user=courier, quoting values "
          "with spaces in '...'");
    for (const PQconninfoOption* o = opts.get(); o->keyword; ++o)
      if (o->val && *o->val) {
        if (std::string_view(o->keyword) == "connect_timeout") c.conninfo_has_connect_timeout = true;
        if (std::string_view(o->keyword) == "password") c.conninfo_has_password = true;
      }
  }
  c.server = describe_server(c.conninfo).value_or("(unknown server)");

  if (auto cs = nonempty(rc, "PGSQL_CHARACTER_SET")) {
    if (pg_char_to_encoding(cs->c_str()) < 0)
      return lib::permanent_error(origin_of(rc, "PGSQL_CHARACTER_SET") + ": '" + shown(*cs) +
                                  "' is not an encoding PostgreSQL knows; use a client encoding "
                                  "name such as UTF8 or LATIN1, or remove the setting");
    c.character_set = *cs;
  }
  auto timeout = [&](std::string_view name, std::chrono::seconds def,
                     std::chrono::seconds& out) -> std::optional<lib::Error> {
    out = rc.get_duration(name, def);
    if (out < std::chrono::seconds(1) || out > std::chrono::seconds(3600))
      return lib::permanent_error(origin_of(rc, name) + ": " + seconds_text(out) +
                                  " is outside 1 s .. 1 h; keep it below authdaemonrc's AUTH_TIMEOUT");
    return std::nullopt;
  };
  if (auto e = timeout("PGSQL_CONNECT_TIMEOUT", std::chrono::seconds(5), c.connect_timeout)) return *e;
  c.connect_timeout_set = nonempty(rc, "PGSQL_CONNECT_TIMEOUT").has_value();
  if (c.connect_timeout_set && c.conninfo_has_connect_timeout)
    rc.add_warning(rc.where("PGSQL_CONNECT_TIMEOUT") + ": PGSQL_CONNECT_TIMEOUT overrides the "
                   "connect_timeout of " + c.setting + "; remove one of them");
  if (auto e = timeout("PGSQL_STATEMENT_TIMEOUT", std::chrono::seconds(5), c.statement_timeout)) return *e;

  std::string domain_origin;
  if (auto d = either(rc, "PGSQL_DEFAULT_DOMAIN", "DEFAULT_DOMAIN", domain_origin)) {
    if (d->size() > 255 || d->find('@') != std::string::npos ||
        std::any_of(d->begin(), d->end(), [](char ch) {
          return ch == ' ' || is_control(static_cast<unsigned char>(ch));
        }))
      return lib::permanent_error(domain_origin + ": '" + shown(*d) +
                                  "' is not a domain name (no '@', blanks or control characters, "
                                  "at most 255 bytes)");
    s.default_domain = *d;
  }

  // Custom clauses: placeholders become parameters.
  auto custom = [&](std::string_view name, std::span<const Placeholder> allowed,
                    Query& q) -> std::optional<lib::Error> {
    auto v = nonempty(rc, name);
    if (!v) return std::nullopt;
    q.origin = origin_of(rc, name);
    q.custom = true;
    auto st = translate_clause(*v, q.origin, allowed);
    if (!st) return st.error();
    q.statement = std::move(*st);
    return std::nullopt;
  };
  if (auto e = custom("PGSQL_SELECT_CLAUSE", lookup_placeholders, s.select)) return *e;
  s.select_courier = s.select;
  if (auto e = custom("PGSQL_CHPASS_CLAUSE", chpass_placeholders, s.chpass)) return *e;
  if (auto e = custom("PGSQL_ENUMERATE_CLAUSE", lookup_placeholders, s.enumerate)) return *e;
  if (s.select.custom && s.chpass.custom && s.enumerate.custom) return s;

  // The generated queries (Courier's defaults) need the table and columns.
  auto table_value = nonempty(rc, "PGSQL_USER_TABLE");
  if (!table_value)
    return lib::permanent_error(file + ": PGSQL_USER_TABLE is not set: name the table of accounts "
                                "(e.g. PGSQL_USER_TABLE passwd), or write all three of "
                                "PGSQL_SELECT_CLAUSE, PGSQL_ENUMERATE_CLAUSE and PGSQL_CHPASS_CLAUSE");
  auto table = table_sql(*table_value, origin_of(rc, "PGSQL_USER_TABLE"));
  if (!table) return table.error();

  struct Field {
    std::string name;   // setting
    std::string label;  // for messages
    ColumnSql column;
  };
  auto field = [&](std::string_view name, std::string_view def, Field& out) -> std::optional<lib::Error> {
    out.name = std::string(name);
    std::string value = nonempty(rc, name).value_or(std::string(def));
    auto col = column_or_constant(value);
    if (!col) {
      auto err = column_sql(value, origin_of(rc, name));
      return err.error();
    }
    out.column = std::move(*col);
    out.label = std::string(name) + " " + shown(value);
    return std::nullopt;
  };
  Field login, crypt, clear, uid, gid, home, maildir, delivery, quota, fullname, options;
  const bool has_crypt = nonempty(rc, "PGSQL_CRYPT_PWFIELD").has_value();
  const bool has_clear = nonempty(rc, "PGSQL_CLEAR_PWFIELD").has_value();
  if (!has_crypt && !has_clear)
    return lib::permanent_error(file + ": neither PGSQL_CRYPT_PWFIELD nor PGSQL_CLEAR_PWFIELD is set: "
                                "name the column holding the password hash (PGSQL_CRYPT_PWFIELD crypt) "
                                "and/or the clear-text password (needed for CRAM-MD5)");
  std::string options_origin;
  std::string options_value = either(rc, "PGSQL_AUXOPTIONS_FIELD", "PGSQL_AUXOPTIONS", options_origin)
                                  .value_or("''");
  std::optional<lib::Error> err;
  if ((err = field("PGSQL_LOGIN_FIELD", "id", login)) || (err = field("PGSQL_CRYPT_PWFIELD", "''", crypt)) ||
      (err = field("PGSQL_CLEAR_PWFIELD", "''", clear)) || (err = field("PGSQL_UID_FIELD", "uid", uid)) ||
      (err = field("PGSQL_GID_FIELD", "gid", gid)) || (err = field("PGSQL_HOME_FIELD", "home", home)) ||
      (err = field("PGSQL_MAILDIR_FIELD", "''", maildir)) ||
      (err = field("PGSQL_DEFAULTDELIVERY", "''", delivery)) ||
      (err = field("PGSQL_QUOTA_FIELD", "''", quota)) || (err = field("PGSQL_NAME_FIELD", "''", fullname)))
    return *err;
  {
    auto col = column_or_constant(options_value);
    if (!col) return column_sql(options_value, options_origin).error();
    options.name = "PGSQL_AUXOPTIONS_FIELD";
    options.column = std::move(*col);
    options.label = "PGSQL_AUXOPTIONS_FIELD " + shown(options_value);
  }
  if (!login.column.is_column)
    return lib::permanent_error(origin_of(rc, "PGSQL_LOGIN_FIELD") +
                                ": must name a column (the login is looked up in it), not a constant");

  auto where_for = [&](size_t first, std::vector<Placeholder>& params,
                       std::string& sql) -> std::optional<lib::Error> {
    auto w = nonempty(rc, "PGSQL_WHERE_CLAUSE");
    if (!w) return std::nullopt;
    auto st = translate_clause(*w, origin_of(rc, "PGSQL_WHERE_CLAUSE"), lookup_placeholders, first);
    if (!st) return st.error();
    sql += " AND (" + st->sql + ")";
    params.insert(params.end(), st->parameters.begin(), st->parameters.end());
    return std::nullopt;
  };
  const std::string origin = "the query generated from PGSQL_USER_TABLE (" + rc.where("PGSQL_USER_TABLE") +
                             ") and the *_FIELD settings";

  if (!s.select.custom) {
    for (bool courier : {false, true}) {
      const Field& mail = courier ? delivery : maildir;
      const Field* cols[] = {&login, &crypt, &clear, &uid, &gid, &home, &mail, &quota, &fullname, &options};
      Query q;
      q.origin = origin;
      q.statement.sql = "SELECT ";
      for (size_t i = 0; i < std::size(cols); ++i) {
        if (i) q.statement.sql += ", ";
        q.statement.sql += cols[i]->column.sql;
        q.columns.push_back(cols[i]->label);
      }
      q.statement.sql += " FROM " + *table + " WHERE " + login.column.sql + " = $1";
      q.statement.parameters.push_back(Placeholder::login);
      if (auto e = where_for(2, q.statement.parameters, q.statement.sql)) return *e;
      (courier ? s.select_courier : s.select) = std::move(q);
    }
  }
  if (!s.enumerate.custom) {
    Query q;
    q.origin = origin;
    const Field* cols[] = {&login, &uid, &gid, &home, &maildir, &options};
    q.statement.sql = "SELECT ";
    for (size_t i = 0; i < std::size(cols); ++i) {
      if (i) q.statement.sql += ", ";
      q.statement.sql += cols[i]->column.sql;
      q.columns.push_back(cols[i]->label);
    }
    q.statement.sql += " FROM " + *table + " WHERE TRUE";
    if (auto e = where_for(1, q.statement.parameters, q.statement.sql)) return *e;
    s.enumerate = std::move(q);
  }
  if (!s.chpass.custom) {
    // Courier's default: the clear column (if any) gets the new password, the
    // crypt column (if any) its hash.
    Query q;
    q.origin = origin;
    std::string sets;
    if (has_clear && clear.column.is_column) {
      sets = clear.column.sql + " = $1";
      q.statement.parameters.push_back(Placeholder::newpass);
      s.chpass_has_clear = true;
    }
    if (has_crypt && crypt.column.is_column) {
      if (!sets.empty()) sets += ", ";
      sets += crypt.column.sql + " = $" + std::to_string(q.statement.parameters.size() + 1);
      q.statement.parameters.push_back(Placeholder::newpass_crypt);
    }
    if (sets.empty())
      return lib::permanent_error(file + ": PGSQL_CRYPT_PWFIELD and PGSQL_CLEAR_PWFIELD are constants, so "
                                  "the default password change has no column to update: name a column, "
                                  "or write PGSQL_CHPASS_CLAUSE");
    q.statement.parameters.push_back(Placeholder::login);
    q.statement.sql = "UPDATE " + *table + " SET " + sets + " WHERE " + login.column.sql + " = $" +
                      std::to_string(q.statement.parameters.size());
    if (auto e = where_for(q.statement.parameters.size() + 1, q.statement.parameters, q.statement.sql))
      return *e;
    s.chpass = std::move(q);
  }
  return s;
}


}  // namespace pgsql
}  // namespace authlib
