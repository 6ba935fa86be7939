// authlib/module_pgsql.hpp: authpgsql, Courier's PostgreSQL authentication
// module, on libpq. Accounts are rows of a table (or whatever the admin's
// PGSQL_SELECT_CLAUSE returns); authpgsqlrc (NAME<blanks>value) uses
// Courier's setting names (COURIER-COMPAT.md sections 2 and 3).
//
// SECURITY: login names and passwords come from network clients. They never
// become SQL text: every $(local_part), $(domain), $(service), $(newpass) and
// $(newpass_crypt) of the admin's clauses becomes a positional parameter ($1,
// $2 ...) sent separately with the extended query protocol, and the table and
// column names of the generated queries are validated and quoted as SQL
// identifiers when the file is read. Row values are checked before they reach
// the authdaemon protocol (no control characters, bounded lengths).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "authlib/module.hpp"
#include "lib/config.hpp"
#include "lib/result.hpp"

namespace authlib {

// The authpgsql module for authdaemond: reads authpgsqlrc (context.sysconfdir
// + "/authpgsqlrc", or AUTHPGSQLRC=path in authdaemonrc) and checks every
// setting and clause. A missing or malformed file, an unknown $(placeholder),
// a table or column setting that is not an identifier, a malformed
// PGSQL_CONNECTION fail here with file:line, the setting and the fix. Does
// not connect: the first request does, in the worker process, so a database
// that is down at start-up gives temporary failures, not a dead daemon. As in
// Courier, a changed authpgsqlrc is reread without a restart (a broken edit
// is logged and the previous settings stay): each worker looks at the file at
// most once a second, so the requests that start a second or more after an
// edit use it.
lib::Result<std::unique_ptr<authlib::Module>> make_pgsql_module(const authlib::ModuleContext& context);

namespace pgsql {

// Hard limits.
inline constexpr size_t max_clause_bytes = 64 * 1024;     // one clause after continuation
inline constexpr size_t max_parameters = 256;             // $n per statement
inline constexpr size_t max_placeholder_name_bytes = 32;  // inside $( )
inline constexpr size_t max_login_bytes = 1024;           // a login name from a client
inline constexpr size_t max_path_bytes = 4096;            // home, maildir
inline constexpr size_t max_text_field_bytes = 4096;      // name, quota, options, login column

// What a $(name) in a clause stands for. login is internal: the whole login
// name with DEFAULT_DOMAIN appended when it has no '@' (the generated
// queries compare PGSQL_LOGIN_FIELD with it); admins cannot write it.
enum class Placeholder { local_part, domain, service, newpass, newpass_crypt, login };

// "local_part", "domain", ... as written inside $( ).
std::string_view placeholder_name(Placeholder p) noexcept;

// A clause turned into one parameterised statement: parameters[i] is the
// value sent as $(i + first parameter number).
struct Statement {
  std::string sql;
  std::vector<Placeholder> parameters;
};

// Translates an admin's clause (Courier syntax) to a parameterised statement.
// The clause is scanned as PostgreSQL's lexer would (strings '...' and
// E'...', "identifiers", $tag$ dollar quotes, -- and nested /* */ comments)
// so that placeholders keep the meaning Courier's text pasting gave them:
//   name = $(local_part)              ->  name = $1
//   name = '$(local_part)'            ->  name = $1   (untyped, as a literal is)
//   id = '$(local_part)@$(domain)'    ->  id = ($1::text || '@' || $2::text)
// Every occurrence gets its own number, counting from first_parameter (the
// generated queries put the login name in $1 and the admin's WHERE clause
// after it). A space is put between a parameter and an adjacent name or
// number so "$1" never runs into the text around it.
// Errors (permanent, prefixed by `setting`, e.g. "PGSQL_SELECT_CLAUSE
// (authpgsqlrc:12)"): a placeholder not in `allowed` (naming those that
// are), "$(" without ")", an empty or overlong name, a placeholder inside a
// "quoted identifier", a dollar-quoted string or a B'', X'', N'', U&''
// literal, a positional $1 written by the admin, an unterminated string,
// identifier or comment, and the limits above.
lib::Result<Statement> translate_clause(std::string_view clause, std::string_view setting,
                                        std::span<const Placeholder> allowed,
                                        size_t first_parameter = 1);

// A table setting (PGSQL_USER_TABLE) as SQL: a plain identifier (folded to
// lower case, as PostgreSQL folds unquoted names), a "quoted identifier"
// (kept as written), or schema.table of those; each part emitted
// double-quoted. Anything else is a permanent error naming `setting`.
lib::Result<std::string> table_sql(std::string_view value, std::string_view setting);

// A column setting (PGSQL_UID_FIELD ...) as SQL: an identifier as for
// table_sql (optionally table.column), or a constant, which Courier's sample
// files use: an unsigned integer (PGSQL_UID_FIELD 5000) or a string literal
// without quotes or backslashes inside ('5000', '' for "none"). An
// expression such as 'disableimap=' || imap is refused: write it in
// PGSQL_SELECT_CLAUSE, whose values are then parameters too.
lib::Result<std::string> column_sql(std::string_view value, std::string_view setting);

// A libpq keyword/value connection string from Courier's older settings
// (PGSQL_HOST, PGSQL_PORT, PGSQL_USERNAME, PGSQL_PASSWORD, PGSQL_DATABASE,
// PGSQL_OPT -> host, port, user, password, dbname, options); empty values are
// left out; each value is quoted for libpq.
std::string conninfo_from_parts(std::string_view host, std::string_view port,
                                std::string_view user, std::string_view password,
                                std::string_view dbname, std::string_view options);

// The server a connection string names, for messages, without credentials:
// "socket /run/postgresql/.s.PGSQL.5432", "db.example.com:5433",
// "hostaddr 192.0.2.1:5432", "the default socket (port 5432)"; several
// comma-separated hosts are listed. nullopt when libpq cannot parse conninfo.
std::optional<std::string> describe_server(std::string_view conninfo);

// Where to reach the database and how long to wait.
struct ConnectionSettings {
  std::string conninfo;           // holds the password: never log it
  std::string server;             // describe_server(conninfo)
  std::string setting;            // "PGSQL_CONNECTION (authpgsqlrc:3)", for messages
  std::string character_set;      // PGSQL_CHARACTER_SET, "" = the server's default
  // PGSQL_CONNECT_TIMEOUT; a connect_timeout in conninfo wins over the
  // default, but not over the setting when it is written.
  std::chrono::seconds connect_timeout{5};
  bool connect_timeout_set = false;
  bool conninfo_has_connect_timeout = false;
  bool conninfo_has_password = false;  // then authpgsqlrc must not be world-readable
  std::chrono::seconds statement_timeout{5};  // PGSQL_STATEMENT_TIMEOUT
};

// One statement of the module with the text naming its origin in messages.
struct Query {
  Statement statement;
  std::string origin;  // "PGSQL_SELECT_CLAUSE (authpgsqlrc:9)" or "the default query ..."
  bool custom = false; // written by the admin (not generated from the *_FIELD settings)
  // For generated queries, each result column as messages name it
  // ("PGSQL_UID_FIELD uid"); custom ones are named from the result at run time.
  std::vector<std::string> columns;
};

// authpgsqlrc, checked and translated.
struct Settings {
  std::string file;
  ConnectionSettings connection;
  std::string default_domain;  // DEFAULT_DOMAIN (Courier's name) or PGSQL_DEFAULT_DOMAIN
  Query select;                // lookup for every service ...
  Query select_courier;        // ... but "courier", which reads PGSQL_DEFAULTDELIVERY
  Query chpass;                // password change
  Query enumerate;             // account list
  bool chpass_has_clear = false;  // the generated UPDATE also writes PGSQL_CLEAR_PWFIELD
};

// Reads authpgsqlrc settings (already loaded from `file`). Permanent errors
// name file:line, the setting and the fix; harmless oddities (unknown
// settings, both connection forms, two names for one setting) become
// warnings in rc.warnings(), which the caller logs.
lib::Result<Settings> parse_settings(lib::Config& rc, const std::string& file);

// The parts of a login name: local_part and domain split at the first '@'
// (domain = default_domain without one, as Courier does), and login, the
// name with "@default_domain" appended when it has no '@' and a default is set.
struct LoginParts {
  std::string local_part;
  std::string domain;
  std::string login;
};
LoginParts split_login(std::string_view user, std::string_view default_domain);

// One result row as text; nullopt is SQL NULL.
using Row = std::vector<std::optional<std::string>>;

// The account in a row of the SELECT (Courier's column order: login, crypt,
// clear, uid, gid, home, maildir, quota, name, options; the first six are
// required). requested_login fills ADDRESS when the login column is empty.
// Fails (the text is the reason, which names the column) for NULL, malformed
// or 0 (root) uid/gid, a NULL, empty or relative home, control characters in
// any value and values over the limits above.
struct RowError {
  std::string reason;
};
std::variant<Account, RowError> account_from_row(const Row& row, std::string_view requested_login,
                                                 std::span<const std::string> column_names);

// A uid/gid column value: decimal digits only (blanks around allowed, as
// char(n) columns pad), at most 2^32 - 2 (-1 is "no id" to the kernel).
std::optional<unsigned long> parse_id(std::string_view text);

// Shared by the two halves of authpgsql (pgsql_settings.cpp: settings,
// statements, rows; module_pgsql.cpp: the connection and the module).
namespace detail {
// make_password_hash's limit for crypt schemes.
inline constexpr size_t max_new_password_bytes = 512;
// A control character (< 0x20 or DEL) in s.
bool has_control(std::string_view s);
// Text from libpq or the server, on one line: newlines become "; ".
std::string one_line(std::string_view text);
// Every occurrence of each secret replaced by ***.
std::string scrub(std::string text, std::span<const std::string_view> secrets);
// A value shown in a reason: at most 64 bytes, control characters escaped.
std::string shown(std::string_view value);
// "30 s".
std::string seconds_text(std::chrono::seconds s);
// One server of a conninfo, for messages ("db.example:5432", "socket /run/...").
std::string describe_one(std::string_view host, std::string_view hostaddr, std::string_view port);
}  // namespace detail

}  // namespace pgsql
}  // namespace authlib
