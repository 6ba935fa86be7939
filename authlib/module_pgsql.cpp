// authlib/module_pgsql.cpp: authpgsql, Courier's PostgreSQL module, on libpq.
//
// Per worker process one persistent connection, opened at the first request.
// Statements go out with PQsendQueryParams in single-row mode, so a clause
// that matches a million rows costs bounded memory, and client input only
// ever travels as parameters. A lost connection (server restarted, network
// cut) is reset once and the statement retried; a second failure is a
// temporary answer naming the server (never the password) and libpq's text.
//
// SECURITY: see module_pgsql.hpp. Reasons never contain a password: the
// connection string is never quoted, and server messages about statements
// that carry the new password are scrubbed of it.
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

using PgConn = lib::CHandle<PGconn, PQfinish>;
using PgResult = lib::CHandle<PGresult, PQclear>;
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

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return is_control(static_cast<unsigned char>(c)); });
}

// Text from libpq or the server, on one line: newlines become "; ".
std::string one_line(std::string_view text) {
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
std::string scrub(std::string text, std::span<const std::string_view> secrets) {
  for (std::string_view s : secrets) {
    if (s.empty()) continue;
    for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  }
  return text;
}

// A value shown in a reason: at most 64 bytes, control characters escaped.
std::string shown(std::string_view value) {
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

// make_password_hash's limit for crypt schemes.
constexpr size_t max_new_password_bytes = 512;

std::string seconds_text(std::chrono::seconds s) { return std::to_string(s.count()) + " s"; }

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

std::string describe_one(std::string_view host, std::string_view hostaddr, std::string_view port) {
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

}  // namespace

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

namespace {

// ---------------------------------------------------------------------------
// The connection

struct DbFailure {
  bool connection_lost = false;  // worth one reconnect and retry
  std::string sqlstate;
  std::string text;  // for the reason; never contains a password
};

// The values a statement's parameters take for one request.
struct Values {
  std::string local_part, domain, service, login;
  const lib::Secret* newpass = nullptr;
  const std::string* newpass_crypt = nullptr;
};

// Pointers to NUL-terminated values, one per parameter. lib::Secret and
// std::string keep a terminating NUL after their bytes.
std::vector<const char*> bind(const Statement& st, const Values& v) {
  std::vector<const char*> out;
  out.reserve(st.parameters.size());
  for (Placeholder p : st.parameters) {
    switch (p) {
      case Placeholder::local_part: out.push_back(v.local_part.c_str()); break;
      case Placeholder::domain: out.push_back(v.domain.c_str()); break;
      case Placeholder::service: out.push_back(v.service.c_str()); break;
      case Placeholder::login: out.push_back(v.login.c_str()); break;
      case Placeholder::newpass: out.push_back(v.newpass ? v.newpass->reveal().data() : ""); break;
      case Placeholder::newpass_crypt:
        out.push_back(v.newpass_crypt ? v.newpass_crypt->c_str() : "");
        break;
    }
  }
  return out;
}

bool connection_class(std::string_view sqlstate) {
  // Class 08 (connection exception); 57P01..57P03: admin/crash shutdown,
  // cannot connect now. The server is going away: reconnecting may help.
  return sqlstate.substr(0, 2) == "08" || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

void log_notice(void*, const char* message) noexcept {
  lib::log::debug("authpgsql: server notice: %s", one_line(message ? message : "").c_str());
}

using RowFn = std::function<void(const PGresult*)>;

class Connection {
 public:
  explicit Connection(ConnectionSettings s) : s_(std::move(s)) {}

  // Runs attempt() on a working connection. If it fails because the
  // connection broke (and the connection was not opened for this very call),
  // resets the connection once and runs it again.
  template <class Attempt>
  std::optional<DbFailure> with_retry(Attempt&& attempt) {
    bool fresh = false;
    if (auto f = ensure(fresh)) return f;
    auto f = attempt();
    if (!f || !f->connection_lost || fresh) return f;
    lib::log::warning("authpgsql: lost the connection to PostgreSQL at %s (%s); reconnecting",
                      server().c_str(), f->text.c_str());
    if (auto g = reset()) return g;
    return attempt();
  }

  // One statement; on_row sees every result holding rows (one row each in
  // single-row mode). affected gets the
  // command's row count for INSERT/UPDATE/DELETE, -1 for a query.
  std::optional<DbFailure> run(const std::string& sql, const std::vector<const char*>& params,
                               const RowFn& on_row, long long* affected,
                               std::span<const std::string_view> secrets) {
    if (affected) *affected = -1;
    if (!conn_) return DbFailure{false, {}, "no connection to PostgreSQL at " + s_.server};
    PGconn* c = conn_.get();
    if (!PQsendQueryParams(c, sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(),
                           nullptr, nullptr, 0))
      return conn_failure(c, "sending the statement failed");
    PQsetSingleRowMode(c);  // if refused, results arrive whole; both are handled below
    // The server cancels a statement after statement_timeout; a server that
    // does not answer at all (hung, or a dead peer behind a firewall) gets one
    // more second, then the connection is dropped.
    const auto deadline = std::chrono::steady_clock::now() + s_.statement_timeout + std::chrono::seconds(1);
    std::optional<DbFailure> failure;
    while (true) {
      while (!PQisBusy(c)) {
        PgResult r{PQgetResult(c)};
        if (!r) {
          if (PQstatus(c) != CONNECTION_OK) {
            if (!failure) return conn_failure(c, "the connection broke");
            failure->connection_lost = true;
          }
          return failure;
        }
        switch (PQresultStatus(r.get())) {
          case PGRES_SINGLE_TUPLE:
          case PGRES_TUPLES_OK:
            if (on_row) on_row(r.get());
            break;
          case PGRES_COMMAND_OK:
            if (affected) {
              const char* n = PQcmdTuples(r.get());
              *affected = (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
            }
            break;
          case PGRES_COPY_IN:
            PQputCopyEnd(c, "authpgsql does not run COPY");
            if (!failure) failure = DbFailure{false, {}, "the statement is a COPY, which authpgsql does not run"};
            break;
          case PGRES_COPY_OUT:
          case PGRES_COPY_BOTH:
            // Not worth draining: start afresh at the next request.
            conn_.reset();
            return DbFailure{false, {}, "the statement is a COPY, which authpgsql does not run"};
          case PGRES_EMPTY_QUERY:
            if (!failure) failure = DbFailure{false, {}, "the statement is empty"};
            break;
          default:
            if (!failure) failure = result_failure(r.get(), secrets);
            break;
        }
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                             std::chrono::steady_clock::now());
      pollfd pfd{PQsocket(c), POLLIN, 0};
      int n = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) {
        const std::string where = server();
        conn_.reset();
        return DbFailure{false, {},
                         "PostgreSQL at " + where + " did not answer within " +
                             seconds_text(s_.statement_timeout + std::chrono::seconds(1)) +
                             " (PGSQL_STATEMENT_TIMEOUT + 1 s); the connection was dropped: is the "
                             "server hung or overloaded?"};
      }
      if (n < 0) {
        const std::string why = lib::errno_text(errno);
        conn_.reset();
        return DbFailure{false, {}, "waiting for PostgreSQL at " + s_.server + " failed: " + why};
      }
      if (!PQconsumeInput(c)) return conn_failure(c, "reading the answer failed");
    }
  }

  // A statement without parameters or rows (BEGIN, COMMIT, ROLLBACK).
  std::optional<DbFailure> command(const char* sql) {
    return run(sql, {}, nullptr, nullptr, {});
  }

  const ConnectionSettings& settings() const { return s_; }

  // The server for messages: the connection string's, or the socket libpq
  // actually tried when the string names none.
  std::string server() const {
    if (conn_ && s_.server.rfind("the default socket", 0) == 0) {
      const char* h = PQhost(conn_.get());
      const char* p = PQport(conn_.get());
      if (h && *h) return describe_one(h, "", p ? p : "");
    }
    return s_.server;
  }

 private:
  std::optional<DbFailure> ensure(bool& fresh) {
    if (!conn_) {
      fresh = true;
      return open();
    }
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      fresh = true;
      return reset();
    }
    if (PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
      // Left inside a transaction by an interrupted request: start clean.
      if (auto f = command("ROLLBACK")) return f;
    }
    return std::nullopt;
  }

  std::optional<DbFailure> open() {
    const std::string timeout = std::to_string(s_.connect_timeout.count());
    const std::string user_timeout_ms =
        std::to_string((s_.connect_timeout.count() + s_.statement_timeout.count()) * 1000);
    // Keywords are processed in order and later ones win: our defaults come
    // before the admin's string (dbname, expanded); explicit settings
    // (PGSQL_CONNECT_TIMEOUT, PGSQL_CHARACTER_SET) after it.
    std::vector<const char*> keys = {"keepalives", "keepalives_idle", "keepalives_interval",
                                     "keepalives_count", "tcp_user_timeout", "fallback_application_name"};
    std::vector<const char*> values = {"1", "30", "5", "3", user_timeout_ms.c_str(), "authdaemond"};
    if (!s_.connect_timeout_set) {
      keys.push_back("connect_timeout");
      values.push_back(timeout.c_str());
    }
    keys.push_back("dbname");
    values.push_back(s_.conninfo.c_str());
    if (s_.connect_timeout_set) {
      keys.push_back("connect_timeout");
      values.push_back(timeout.c_str());
    }
    if (!s_.character_set.empty()) {
      keys.push_back("client_encoding");
      values.push_back(s_.character_set.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_.reset(PQconnectdbParams(keys.data(), values.data(), 1));
    if (!conn_) return DbFailure{true, {}, "cannot connect to PostgreSQL at " + s_.server + ": out of memory"};
    PQsetNoticeProcessor(conn_.get(), log_notice, nullptr);
    return after_connect();
  }

  std::optional<DbFailure> reset() {
    if (!conn_) return open();
    PQreset(conn_.get());
    return after_connect();
  }

  std::optional<DbFailure> after_connect() {
    PGconn* c = conn_.get();
    if (PQstatus(c) != CONNECTION_OK)
      return DbFailure{true, {},
                       "cannot connect to PostgreSQL at " + server() + " (" + s_.setting +
                           "): " + one_line(PQerrorMessage(c)) +
                           "; start PostgreSQL or correct the connection setting"};
    // A statement that runs longer than this is cancelled by the server, so a
    // worker is never stuck behind a lock or a runaway clause.
    const std::string set = "SET statement_timeout = " +
                            std::to_string(s_.statement_timeout.count() * 1000);
    if (auto f = run(set, {}, nullptr, nullptr, {})) {
      f->text = "setting statement_timeout on " + server() + " failed: " + f->text;
      f->connection_lost = conn_ && PQstatus(conn_.get()) != CONNECTION_OK;
      return f;
    }
    lib::log::debug_if("DEBUG_LOGIN", 1, "authpgsql: connected to PostgreSQL at %s", server().c_str());
    return std::nullopt;
  }

  DbFailure conn_failure(PGconn* c, const char* what) {
    return DbFailure{PQstatus(c) != CONNECTION_OK, {},
                     std::string(what) + ": " + one_line(PQerrorMessage(c))};
  }

  DbFailure result_failure(const PGresult* r, std::span<const std::string_view> secrets) {
    DbFailure f;
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    f.sqlstate = state ? state : "";
    const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string text;
    if (primary) {
      const char* severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
      text = std::string(severity ? severity : "ERROR") + ": " + primary;
      if (const char* d = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) text += "; DETAIL: " + std::string(d);
      if (const char* h = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT)) text += "; HINT: " + std::string(h);
      if (!f.sqlstate.empty()) text += " (SQLSTATE " + f.sqlstate + ")";
    } else {
      const char* m = r ? PQresultErrorMessage(r) : "";
      text = (m && *m) ? m : PQerrorMessage(conn_.get());
    }
    if (f.sqlstate == "57014")
      text += "; the statement ran longer than " + seconds_text(s_.statement_timeout) +
              " (PGSQL_STATEMENT_TIMEOUT)";
    f.text = scrub(one_line(text), secrets);
    f.connection_lost = connection_class(f.sqlstate) || PQstatus(conn_.get()) != CONNECTION_OK;
    return f;
  }

  ConnectionSettings s_;
  PgConn conn_;
};

// Copies the current row of a single-row result.
Row copy_row(const PGresult* r, int i) {
  Row row;
  const int n = PQnfields(r);
  row.reserve(static_cast<size_t>(n));
  for (int f = 0; f < n; ++f) {
    if (PQgetisnull(r, i, f)) row.emplace_back(std::nullopt);
    else row.emplace_back(std::string(PQgetvalue(r, i, f), static_cast<size_t>(PQgetlength(r, i, f))));
  }
  return row;
}

std::vector<std::string> column_labels(const Query& q, const PGresult* r) {
  if (!q.custom) return q.columns;
  std::vector<std::string> out;
  for (int f = 0; f < PQnfields(r); ++f) {
    const char* name = PQfname(r, f);
    out.push_back("column " + std::to_string(f + 1) + " (" + shown(name ? name : "?") + ") of " + q.origin);
  }
  return out;
}

// Why a login name cannot be looked up at all, or "".
std::string login_problem(std::string_view user) {
  if (user.empty()) return "empty login name";
  if (user.size() > max_login_bytes)
    return "login name is " + std::to_string(user.size()) + " bytes long; the limit is " +
           std::to_string(max_login_bytes);
  if (has_control(user)) return "login name '" + shown(user) + "' contains control characters";
  return {};
}

// ---------------------------------------------------------------------------
// Loading authpgsqlrc

// Identity and age of the file, to notice an edit (Courier rereads a changed
// authpgsqlrc without a restart). nullopt when it cannot be stat()ed.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  time_t mtime_s = 0;
  long mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

std::optional<FileStamp> file_stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}

// Reads and checks authpgsqlrc; logs its warnings.
lib::Result<Settings> load_settings(const std::string& path) {
  auto rc = lib::Config::load_spaced_file(path);
  if (!rc)
    return lib::Error{rc.error().kind,
                      "authpgsql: " + rc.error().message +
                          "; install the default authpgsqlrc there (or point AUTHPGSQLRC= in "
                          "authdaemonrc at it), or remove authpgsql from authmodulelist"};
  auto settings = parse_settings(rc.value(), path);
  struct stat st {};
  if (settings && settings->connection.conninfo_has_password && ::stat(path.c_str(), &st) == 0 &&
      (st.st_mode & S_IROTH))
    rc->add_warning(path + " holds the database password and is readable by everyone: chmod 600 " + path);
  for (const std::string& w : rc->warnings()) lib::log::warning("authpgsql: %s", w.c_str());
  if (!settings) return lib::permanent_error("authpgsql: " + settings.error().message);
  return settings;
}

bool same_connection(const ConnectionSettings& a, const ConnectionSettings& b) {
  return a.conninfo == b.conninfo && a.character_set == b.character_set &&
         a.connect_timeout == b.connect_timeout && a.connect_timeout_set == b.connect_timeout_set &&
         a.statement_timeout == b.statement_timeout;
}

// ---------------------------------------------------------------------------
// The module

class PgsqlModule final : public Module {
 public:
  PgsqlModule(Settings s, std::string path, std::optional<FileStamp> stamp)
      : s_(std::move(s)), db_(s_.connection), path_(std::move(path)), stamp_(stamp) {}

  std::string_view name() const override { return "authpgsql"; }

  ModuleReply lookup(std::string_view user, std::string_view service) override {
    reload_if_changed();
    if (auto why = login_problem(user); !why.empty()) return ModuleReply::reject(why);
    LoginParts parts = split_login(user, s_.default_domain);
    Values v{parts.local_part, parts.domain, std::string(service), parts.login, nullptr, nullptr};
    const Query& q = service == "courier" ? s_.select_courier : s_.select;
    lib::log::debug_if("DEBUG_LOGIN", 1, "authpgsql: looking up %s (service %s) with %s",
                       parts.login.c_str(), v.service.c_str(), q.origin.c_str());
    lib::log::debug_if("DEBUG_LOGIN", 2, "authpgsql: SQL: %s", q.statement.sql.c_str());
    const auto params = bind(q.statement, v);
    std::vector<Row> rows;
    size_t matched = 0;
    std::vector<std::string> labels;
    auto failure = db_.with_retry([&] {
      rows.clear();
      matched = 0;
      return db_.run(q.statement.sql, params, [&](const PGresult* r) {
        for (int i = 0; i < PQntuples(r); ++i) {
          if (++matched <= 2) rows.push_back(copy_row(r, i));
          if (labels.empty()) labels = column_labels(q, r);
        }
      }, nullptr, {});
    });
    if (failure) {
      // The login name cannot be represented in the database's encoding:
      // that is the client's input, not an outage.
      if (failure->sqlstate == "22021" || failure->sqlstate == "22P05")
        return ModuleReply::reject("login name " + shown(user) +
                                   " is not valid in the database's character set: " + failure->text);
      return ModuleReply::temporary(failure->connection_lost
                                        ? "looking up " + parts.login + ": " + failure->text
                                        : "looking up " + parts.login + " with " + q.origin + " failed: " +
                                              failure->text);
    }
    if (matched == 0)
      return ModuleReply::reject("no such account " + parts.login + " (" + q.origin + ")");
    if (matched > 1)
      return ModuleReply::reject(std::to_string(matched) + " rows match " + parts.login +
                                 " in " + q.origin +
                                 "; a login must match exactly one row: make the login column unique or "
                                 "narrow the clause");
    if (rows.front().size() < 6)
      return ModuleReply::temporary(q.origin + " returns " +
                                    std::to_string(rows.front().size()) +
                                    " columns; it must return at least 6, in this order: login, crypt "
                                    "password, clear password, uid, gid, home (then maildir, quota, "
                                    "full name, options)");
    auto account = account_from_row(rows.front(), parts.login, labels);
    if (auto* e = std::get_if<RowError>(&account))
      return ModuleReply::reject("account " + parts.login + ": " + e->reason);
    return ModuleReply::found(std::move(std::get<Account>(account)));
  }

  ModuleReply change_password(std::string_view service, std::string_view user,
                              const lib::Secret& old_password, const lib::Secret& new_password) override {
    if (new_password.empty()) return ModuleReply::reject("the new password is empty");
    // A control character would make the row unreadable (account_from_row
    // refuses it): the account would lock itself out.
    if (has_control(new_password.reveal()) || new_password.size() > max_new_password_bytes)
      return ModuleReply::reject("the new password is longer than " + std::to_string(max_new_password_bytes) +
                                 " bytes or contains control characters");
    ModuleReply found = lookup(user, service);  // rereads a changed authpgsqlrc
    if (found.outcome != Outcome::ok) return found;
    AuthRequest check;
    check.service = std::string(service);
    check.user = std::string(user);
    check.password = old_password;
    ModuleReply checked = check_secret(check, std::move(found.account));
    if (checked.outcome != Outcome::ok) return checked;

    auto hash = make_password_hash(new_password);
    if (!hash) {
      std::string why = "cannot hash the new password of " + std::string(user) + ": " +
                        hash.error().message;
      return hash.error().temporary() ? ModuleReply::temporary(why) : ModuleReply::reject(why);
    }
    LoginParts parts = split_login(user, s_.default_domain);
    Values v{parts.local_part, parts.domain, std::string(service), parts.login, &new_password, &hash.value()};
    const Query& q = s_.chpass;
    const auto params = bind(q.statement, v);
    const std::string_view secrets[] = {new_password.reveal(), hash.value()};
    lib::log::debug_if("DEBUG_LOGIN", 1, "authpgsql: changing the password of %s with %s",
                       parts.login.c_str(), q.origin.c_str());
    std::string refused;  // set when the statement ran but changed the wrong number of rows
    auto failure = db_.with_retry([&]() -> std::optional<DbFailure> {
      refused.clear();
      if (auto f = db_.command("BEGIN")) return f;
      long long affected = -1;
      if (auto f = db_.run(q.statement.sql, params, nullptr, &affected, secrets)) {
        if (!f->connection_lost) (void)db_.command("ROLLBACK");
        return f;
      }
      // The generated UPDATE must change exactly the one row looked up; a
      // custom clause at least one (a SELECT of a function counts as done).
      if (affected == 0 || (!q.custom && affected > 1)) {
        refused = std::to_string(affected) + " rows";
        return db_.command("ROLLBACK");
      }
      return db_.command("COMMIT");
    });
    if (failure)
      return ModuleReply::temporary(failure->connection_lost
                                        ? "changing the password of " + parts.login + ": " + failure->text
                                        : "changing the password of " + parts.login + " with " + q.origin +
                                              " failed: " + failure->text);
    if (!refused.empty())
      return ModuleReply::reject("changing the password of " + parts.login + ": " + q.origin +
                                 " would have changed " + refused +
                                 ", not one; nothing was changed: check the login column and "
                                 "PGSQL_WHERE_CLAUSE / PGSQL_CHPASS_CLAUSE");
    lib::log::info("authpgsql: password changed for %s", parts.login.c_str());
    ModuleReply ok = ModuleReply::found(Account{});
    ok.account.address = parts.login;
    return ok;
  }

  lib::Result<void> enumerate(const std::function<void(const Account&)>& fn) override {
    reload_if_changed();
    LoginParts parts = split_login("*", s_.default_domain);
    Values v{parts.local_part, s_.default_domain, "enumerate", parts.login, nullptr, nullptr};
    const Query& q = s_.enumerate;
    const auto params = bind(q.statement, v);
    size_t delivered = 0, skipped = 0;
    std::string first_skip;
    std::string columns_problem;
    std::vector<std::string> labels;
    auto failure = db_.with_retry([&]() -> std::optional<DbFailure> {
      skipped = 0;  // a retry starts over (it only happens before any row was handed out)
      first_skip.clear();
      columns_problem.clear();
      auto f = db_.run(q.statement.sql, params, [&](const PGresult* r) {
        if (PQnfields(r) < 4) {
          if (columns_problem.empty())
            columns_problem = q.origin + " returns " + std::to_string(PQnfields(r)) +
                              " columns; it must return at least 4, in this order: login, uid, gid, "
                              "home (then maildir, options)";
          return;
        }
        if (labels.empty()) labels = column_labels(q, r);
        for (int i = 0; i < PQntuples(r); ++i) {
          std::string why;
          auto account = enumerated_account(copy_row(r, i), labels, why);
          if (!account) {
            if (++skipped == 1) first_skip = why;
            continue;
          }
          ++delivered;
          fn(*account);
        }
      }, nullptr, {});
      // Rows already handed out cannot be taken back: no retry after them.
      if (f && delivered > 0) f->connection_lost = false;
      return f;
    });
    if (skipped)
      lib::log::warning("authpgsql: enumerate skipped %zu rows of %s; the first: %s", skipped,
                        q.origin.c_str(), first_skip.c_str());
    if (failure)
      return lib::temporary_error(failure->connection_lost
                                      ? "listing accounts: " + failure->text
                                      : "listing accounts with " + q.origin + " failed: " + failure->text);
    if (!columns_problem.empty()) return lib::temporary_error(columns_problem);
    return {};
  }

 private:
  // An edited authpgsqlrc takes effect at the next request, as in Courier; a
  // broken edit is logged and the previous settings stay.
  void reload_if_changed() {
    auto now = file_stamp(path_);
    if (!now || now == stamp_) return;
    stamp_ = now;
    auto fresh = load_settings(path_);
    if (!fresh) {
      lib::log::error("%s; %s changed but cannot be used, so the previous settings stay in effect",
                      fresh.error().message.c_str(), path_.c_str());
      return;
    }
    if (!same_connection(fresh->connection, s_.connection)) db_ = Connection(fresh->connection);
    s_ = std::move(fresh.value());
    lib::log::notice("authpgsql: reread %s", path_.c_str());
  }

  // Courier's enumerate columns: login, uid, gid, home, maildir, options. A
  // row without a login or home, with a bad id or with characters that would
  // break the tab-separated listing is skipped.
  static std::optional<Account> enumerated_account(const Row& row, const std::vector<std::string>& labels,
                                                   std::string& why) {
    auto label = [&](size_t i) { return i < labels.size() ? labels[i] : "column " + std::to_string(i + 1); };
    auto text = [&](size_t i) -> std::string_view {
      return i < row.size() && row[i] ? std::string_view(*row[i]) : std::string_view();
    };
    for (size_t i = 0; i < std::min<size_t>(row.size(), 6); ++i) {
      std::string_view t = text(i);
      if (has_control(t) || t.size() > max_path_bytes) {
        why = label(i) + " of the row for '" + shown(text(0)) + "' is too long or contains a control character";
        return std::nullopt;
      }
    }
    if (text(0).empty()) {
      why = label(0) + " is NULL or empty";
      return std::nullopt;
    }
    Account a;
    a.address = std::string(text(0));
    auto uid = parse_id(text(1));
    auto gid = parse_id(text(2));
    if (!uid || !gid || *uid == 0 || *gid == 0) {
      why = "the uid or gid of " + shown(a.address) + " is not a number, or is 0 (root)";
      return std::nullopt;
    }
    if (text(3).empty() || text(3).front() != '/') {
      why = "the home directory of " + shown(a.address) + " is empty or not an absolute path";
      return std::nullopt;
    }
    a.uid = static_cast<uid_t>(*uid);
    a.gid = static_cast<gid_t>(*gid);
    a.home = std::string(text(3));
    a.maildir = std::string(text(4));
    a.options = std::string(text(5));
    return a;
  }

  Settings s_;
  Connection db_;
  std::string path_;
  std::optional<FileStamp> stamp_;
};

}  // namespace
}  // namespace pgsql

lib::Result<std::unique_ptr<authlib::Module>> make_pgsql_module(const authlib::ModuleContext& context) {
  std::string path = context.authdaemonrc.get_string("AUTHPGSQLRC", "");
  if (path.empty()) path = context.sysconfdir + "/authpgsqlrc";
  // Stamped before reading: a change made while we read is seen at the next request.
  const auto stamp = pgsql::file_stamp(path);
  auto settings = pgsql::load_settings(path);
  if (!settings) return settings.error();
  return std::unique_ptr<authlib::Module>(
      std::make_unique<pgsql::PgsqlModule>(std::move(settings.value()), path, stamp));
}

}  // namespace authlib
