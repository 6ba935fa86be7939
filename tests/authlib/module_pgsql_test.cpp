// tests/authlib/module_pgsql_test.cpp: the pure parts of authpgsql: clause
// translation ($(placeholder) -> $n parameters), identifier and constant
// checks, connection strings, authpgsqlrc parsing, row checking; and the
// module's answers when the server cannot be reached (no server needed).
// The real-server tests are tests/integration/test_authpgsql.py.
#include "authlib/module_pgsql.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <string>
#include <vector>

#include "authlib/password.hpp"
#include "tests/lib/test_util.hpp"

namespace {

using authlib::pgsql::Placeholder;
using authlib::pgsql::Row;
using authlib::pgsql::Statement;

constexpr Placeholder L = Placeholder::local_part;
constexpr Placeholder D = Placeholder::domain;
constexpr Placeholder S = Placeholder::service;
constexpr Placeholder NP = Placeholder::newpass;
constexpr Placeholder NC = Placeholder::newpass_crypt;

const std::vector<Placeholder> lookup_allowed{L, D, S};
const std::vector<Placeholder> chpass_allowed{L, D, S, NP, NC};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------
// translate_clause

struct TranslateCase {
  const char* label;
  std::string clause;
  size_t first = 1;
  std::string sql;
  std::vector<Placeholder> params;
};

TEST(PgsqlTranslate, Good) {
  const std::vector<TranslateCase> cases = {
      {"no placeholders", "SELECT 1 FROM t WHERE a = 'x'", 1, "SELECT 1 FROM t WHERE a = 'x'", {}},
      {"bare placeholder", "id = $(local_part)", 1, "id = $1", {L}},
      {"quoted alone is an untyped parameter", "id = '$(local_part)'", 1, "id = $1", {L}},
      {"concatenation in one literal", "id = '$(local_part)@$(domain)'", 1,
       "id = ($1::text || '@' || $2::text)", {L, D}},
      {"adjacent in a literal", "x = '$(local_part)$(domain)'", 1, "x = ($1::text || $2::text)", {L, D}},
      {"adjacent bare", "$(local_part)$(domain)", 1, "$1 $2", {L, D}},
      {"repeated placeholder gets a number each", "a = '$(domain)' OR b = '$(domain)'", 1,
       "a = $1 OR b = $2", {D, D}},
      {"first parameter number", "d = '$(domain)' AND s = '$(service)'", 2, "d = $2 AND s = $3", {D, S}},
      {"text around parameter", "m = '/var/mail/$(domain)/$(local_part)/'", 1,
       "m = ('/var/mail/' || $1::text || '/' || $2::text || '/')", {D, L}},
      {"doubled quote stays in its piece", "x = 'it''s $(service)'", 1, "x = ('it''s ' || $1::text)", {S}},
      {"E string keeps its prefix and escapes", "x = E'a\\'b$(local_part)'", 1,
       "x = (E'a\\'b' || $1::text)", {L}},
      {"escaped dollar in E string is text", "x = E'\\$(local_part)'", 1, "x = E'\\$(local_part)'", {}},
      {"space after a name", "x$(local_part)", 1, "x $1", {L}},
      {"space before a name", "$(local_part)AND", 1, "$1 AND", {L}},
      {"literal followed by a keyword", "a='$(local_part)'AND b", 1, "a=$1 AND b", {L}},
      {"space before a digit", "$(local_part)5", 1, "$1 5", {L}},
      {"line comment is kept literally", "a -- $(anything\nb = $(domain)", 1, "a -- $(anything\nb = $1", {D}},
      {"nested block comment", "a /* x /* $(y) */ $(z) */ = $(service)", 1, "a /* x /* $(y) */ $(z) */ = $1",
       {S}},
      {"dollar quote without placeholders", "SELECT $$it's$$, $t$a$t$", 1, "SELECT $$it's$$, $t$a$t$", {}},
      {"lone dollar passes through", "a $ b", 1, "a $ b", {}},
      {"identifier with dollar", "SELECT a$b FROM t", 1, "SELECT a$b FROM t", {}},
      {"quoted identifier without placeholder", "SELECT \"Weird \"\"name\" FROM t", 1,
       "SELECT \"Weird \"\"name\" FROM t", {}},
      {"hostile login text is only the admin's SQL", "id = '$(local_part)' -- ' OR '1'='1", 1,
       "id = $1 -- ' OR '1'='1", {L}},
      {"Courier's sample select",
       "SELECT id, crypt, '', uid, gid, home, '', '', name, '' FROM passwd WHERE id = "
       "'$(local_part)@$(domain)' AND service = '$(service)'",
       1,
       "SELECT id, crypt, '', uid, gid, home, '', '', name, '' FROM passwd WHERE id = "
       "($1::text || '@' || $2::text) AND service = $3",
       {L, D, S}},
  };
  for (const auto& c : cases) {
    auto r = authlib::pgsql::translate_clause(c.clause, "PGSQL_SELECT_CLAUSE (rc:1)", lookup_allowed, c.first);
    ASSERT_TRUE(r.ok()) << c.label << ": " << r.error().message;
    EXPECT_EQ(r->sql, c.sql) << c.label;
    EXPECT_EQ(r->parameters, c.params) << c.label;
  }
}

TEST(PgsqlTranslate, ChpassPlaceholders) {
  auto r = authlib::pgsql::translate_clause(
      "UPDATE t SET c = '$(newpass_crypt)', p = '$(newpass)' WHERE id = '$(local_part)@$(domain)'",
      "PGSQL_CHPASS_CLAUSE (rc:3)", chpass_allowed);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sql, "UPDATE t SET c = $1, p = $2 WHERE id = ($3::text || '@' || $4::text)");
  EXPECT_EQ(r->parameters, (std::vector<Placeholder>{NC, NP, L, D}));
}

struct BadCase {
  const char* label;
  std::string clause;
  std::vector<std::string> message_has;
};

TEST(PgsqlTranslate, Errors) {
  const std::vector<BadCase> cases = {
      {"unknown placeholder", "id = '$(unknown)'",
       {"PGSQL_SELECT_CLAUSE (rc:7)", "$(unknown)", "$(local_part), $(domain), $(service)"}},
      {"password placeholder in a lookup", "id = '$(newpass)'", {"$(newpass)", "unknown placeholder"}},
      {"internal login placeholder is not for admins", "id = $(login)", {"$(login)"}},
      {"$( without )", "id = '$(local_part'", {"not closed by \")\"", "character 7"}},
      {"$( at the end", "id = $(", {"not closed"}},
      {"$( followed by other text", "id = $(local part)", {"not closed"}},
      {"empty name", "id = $()", {"empty placeholder"}},
      {"overlong name", "id = $(" + std::string(40, 'a') + ")", {"longer than 32"}},
      {"inside a quoted identifier", "SELECT \"$(local_part)\" FROM t", {"quoted identifier", "single quotes"}},
      {"inside a dollar quote", "SELECT $$ $(local_part) $$", {"dollar-quoted"}},
      {"inside a tagged dollar quote", "SELECT $q$ $(domain) $q$", {"dollar-quoted"}},
      {"inside a bit string", "SELECT B'$(local_part)'", {"B'...' literal"}},
      {"inside a hex string", "SELECT X'$(local_part)'", {"X'...' literal"}},
      {"inside a unicode string", "SELECT U&'$(local_part)'", {"U&'...' literal"}},
      {"positional parameter", "id = $1", {"positional parameter", "reserved"}},
      {"unterminated string", "id = 'abc", {"string literal", "not closed"}},
      {"unterminated E string ending in backslash", "id = E'abc\\", {"not closed"}},
      {"unterminated identifier", "SELECT \"abc", {"quoted identifier", "not closed"}},
      {"unterminated comment", "SELECT 1 /* x /* y */", {"comment", "not closed"}},
      {"unterminated dollar quote", "SELECT $$abc", {"dollar-quoted", "not closed"}},
      {"oversized clause", std::string(authlib::pgsql::max_clause_bytes + 1, ' '), {"the limit is"}},
  };
  for (const auto& c : cases) {
    auto r = authlib::pgsql::translate_clause(c.clause, "PGSQL_SELECT_CLAUSE (rc:7)", lookup_allowed);
    ASSERT_FALSE(r.ok()) << c.label << ": translated to " << r->sql;
    EXPECT_EQ(r.error().kind, lib::ErrorKind::permanent) << c.label;
    EXPECT_TRUE(contains(r.error().message, "PGSQL_SELECT_CLAUSE (rc:7)")) << c.label << ": " << r.error().message;
    for (const auto& part : c.message_has)
      EXPECT_TRUE(contains(r.error().message, part)) << c.label << ": '" << part << "' not in: " << r.error().message;
  }
}

TEST(PgsqlTranslate, TooManyPlaceholders) {
  std::string clause;
  for (size_t i = 0; i <= authlib::pgsql::max_parameters; ++i) clause += "$(domain),";
  auto r = authlib::pgsql::translate_clause(clause, "PGSQL_SELECT_CLAUSE (rc:1)", lookup_allowed);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "more than 256 placeholders")) << r.error().message;
}

// ---------------------------------------------------------------------------
// table_sql and column_sql

TEST(PgsqlIdentifiers, Tables) {
  const std::vector<std::pair<std::string, std::string>> good = {
      {"passwd", "\"passwd\""},
      {"Passwd", "\"passwd\""},  // folded, as PostgreSQL folds unquoted names
      {"mail.passwd", "\"mail\".\"passwd\""},
      {"\"Mixed Case\"", "\"Mixed Case\""},
      {"\"a\"\"b\"", "\"a\"\"b\""},
      {"user", "\"user\""},  // a reserved word, quoted
      {"s.\"T\"", "\"s\".\"T\""},
      {"t_1$x", "\"t_1$x\""},
  };
  for (const auto& [in, out] : good) {
    auto r = authlib::pgsql::table_sql(in, "PGSQL_USER_TABLE (rc:2)");
    ASSERT_TRUE(r.ok()) << in << ": " << r.error().message;
    EXPECT_EQ(*r, out) << in;
  }
  const std::vector<std::string> bad = {"passwd; DROP TABLE passwd", "a.b.c", "'passwd'", "\"\"",
                                        "1abc", "a..b", "a.", ".a", "\"unterminated", "x y",
                                        std::string(64, 'a'), "t\xc3\xa4", "passwd--", "", "a.\"\""};
  for (const auto& in : bad) {
    auto r = authlib::pgsql::table_sql(in, "PGSQL_USER_TABLE (rc:2)");
    ASSERT_FALSE(r.ok()) << in << " accepted as " << *r;
    EXPECT_TRUE(contains(r.error().message, "PGSQL_USER_TABLE (rc:2)")) << r.error().message;
  }
  EXPECT_TRUE(authlib::pgsql::table_sql(std::string(63, 'a'), "x").ok());
}

TEST(PgsqlIdentifiers, Columns) {
  const std::vector<std::pair<std::string, std::string>> good = {
      {"uid", "\"uid\""},         {"UID", "\"uid\""},          {"\"UserId\"", "\"UserId\""},
      {"passwd.uid", "\"passwd\".\"uid\""}, {"mail.passwd.uid", "\"mail\".\"passwd\".\"uid\""},
      {"5000", "5000"},           {"'5000'", "'5000'"},        {"''", "''"},
      {"'/var/mail'", "'/var/mail'"},
  };
  for (const auto& [in, out] : good) {
    auto r = authlib::pgsql::column_sql(in, "PGSQL_UID_FIELD (rc:4)");
    ASSERT_TRUE(r.ok()) << in << ": " << r.error().message;
    EXPECT_EQ(*r, out) << in;
  }
  const std::vector<std::string> bad = {"uid || 'x'", "'a'' OR 1=1'", "'x\\'", "-1",
                                        std::string(21, '1'), "a.b.c.d", "count(*)", "'x' || '",
                                        "'a\nb'", "uid, gid", "\"uid", ""};
  for (const auto& in : bad) {
    auto r = authlib::pgsql::column_sql(in, "PGSQL_UID_FIELD (rc:4)");
    ASSERT_FALSE(r.ok()) << in << " accepted as " << *r;
    EXPECT_TRUE(contains(r.error().message, "PGSQL_UID_FIELD (rc:4)")) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "PGSQL_SELECT_CLAUSE")) << r.error().message;
  }
}

// ---------------------------------------------------------------------------
// Connection strings

std::map<std::string, std::string> parse_conninfo(const std::string& conninfo) {
  std::map<std::string, std::string> out;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (err) PQfreemem(err);
  if (!opts) return out;
  for (PQconninfoOption* o = opts; o->keyword; ++o)
    if (o->val) out[o->keyword] = o->val;
  PQconninfoFree(opts);
  return out;
}

TEST(PgsqlConnection, FromParts) {
  const std::string info = authlib::pgsql::conninfo_from_parts(
      "/var/run/postgresql", "5433", "courier", "p w'\\x", "mail db", "-c search_path=mail");
  auto parsed = parse_conninfo(info);
  EXPECT_EQ(parsed["host"], "/var/run/postgresql");
  EXPECT_EQ(parsed["port"], "5433");
  EXPECT_EQ(parsed["user"], "courier");
  EXPECT_EQ(parsed["password"], "p w'\\x");
  EXPECT_EQ(parsed["dbname"], "mail db");
  EXPECT_EQ(parsed["options"], "-c search_path=mail");
  EXPECT_EQ(authlib::pgsql::conninfo_from_parts("db", "", "", "", "mail", ""), "host=db dbname=mail");
  EXPECT_EQ(authlib::pgsql::conninfo_from_parts("", "", "", "", "", ""), "");
}

TEST(PgsqlConnection, DescribeServer) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"host=/run/pg port=5433 password=s3cret", "socket /run/pg/.s.PGSQL.5433"},
      {"host=/run/pg", "socket /run/pg/.s.PGSQL.5432"},
      {"host=db.example dbname=mail password=s3cret", "db.example:5432"},
      {"hostaddr=192.0.2.1 port=6000", "hostaddr 192.0.2.1:6000"},
      {"host=db hostaddr=192.0.2.1", "hostaddr 192.0.2.1:5432 (host db)"},
      {"dbname=mail", "the default socket (port 5432)"},
      {"host=a,b port=1,2", "a:1, b:2"},
      {"host=a,/s port=7", "a:7, socket /s/.s.PGSQL.7"},
      {"postgresql://u:s3cret@db:5444/mail", "db:5444"},
      {"postgresql:///mail?host=/run/pg&password=s3cret", "socket /run/pg/.s.PGSQL.5432"},
  };
  for (const auto& [info, want] : cases) {
    auto d = authlib::pgsql::describe_server(info);
    ASSERT_TRUE(d.has_value()) << info;
    EXPECT_EQ(*d, want) << info;
    EXPECT_FALSE(contains(*d, "s3cret")) << info;
  }
  EXPECT_FALSE(authlib::pgsql::describe_server("host=/x nonsense").has_value());
  EXPECT_FALSE(authlib::pgsql::describe_server("host='unterminated").has_value());
  EXPECT_FALSE(authlib::pgsql::describe_server("bogus_option=1").has_value());
}

// ---------------------------------------------------------------------------
// Logins, ids, rows

TEST(PgsqlLogin, Split) {
  struct Case {
    std::string user, domain, local_part, want_domain, login;
  };
  const std::vector<Case> cases = {
      {"alice@example.test", "", "alice", "example.test", "alice@example.test"},
      {"alice", "", "alice", "", "alice"},
      {"alice", "example.test", "alice", "example.test", "alice@example.test"},
      {"alice@other.test", "example.test", "alice", "other.test", "alice@other.test"},
      {"a@b@c", "", "a", "b@c", "a@b@c"},
      {"@x", "", "", "x", "@x"},
      {"x' OR '1'='1", "d", "x' OR '1'='1", "d", "x' OR '1'='1@d"},
  };
  for (const auto& c : cases) {
    auto p = authlib::pgsql::split_login(c.user, c.domain);
    EXPECT_EQ(p.local_part, c.local_part) << c.user;
    EXPECT_EQ(p.domain, c.want_domain) << c.user;
    EXPECT_EQ(p.login, c.login) << c.user;
  }
}

TEST(PgsqlRow, ParseId) {
  const std::vector<std::pair<std::string, std::optional<unsigned long>>> cases = {
      {"0", 0},          {"10001", 10001},        {" 42 ", 42},           {"4294967294", 4294967294UL},
      {"4294967295", {}}, {"-1", {}},             {"", {}},                {"   ", {}},
      {"abc", {}},       {"1e3", {}},             {"+5", {}},              {"99999999999", {}},
      {"12 34", {}},     {"0x10", {}},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(authlib::pgsql::parse_id(in), want) << "'" << in << "'";
}

const std::vector<std::string> labels = {
    "PGSQL_LOGIN_FIELD id", "PGSQL_CRYPT_PWFIELD crypt", "PGSQL_CLEAR_PWFIELD clear",
    "PGSQL_UID_FIELD uid",  "PGSQL_GID_FIELD gid",       "PGSQL_HOME_FIELD home",
    "PGSQL_MAILDIR_FIELD maildir", "PGSQL_QUOTA_FIELD quota", "PGSQL_NAME_FIELD name",
    "PGSQL_AUXOPTIONS_FIELD options"};

Row good_row() {
  return {std::string("alice@example.test"), std::string("$6$salt$hash"), std::string(""),
          std::string("10001"), std::string("10000"), std::string("/home/alice"),
          std::string("/home/alice/Maildir"), std::string("1000S"), std::string("Alice Able"),
          std::string("disableimap=1")};
}

TEST(PgsqlRow, GoodRow) {
  auto r = authlib::pgsql::account_from_row(good_row(), "alice@example.test", labels);
  ASSERT_TRUE(std::holds_alternative<authlib::Account>(r)) << std::get<authlib::pgsql::RowError>(r).reason;
  const auto& a = std::get<authlib::Account>(r);
  EXPECT_EQ(a.address, "alice@example.test");
  EXPECT_EQ(a.crypted_password, "$6$salt$hash");
  EXPECT_TRUE(a.clear_password.empty());
  EXPECT_EQ(a.uid, 10001u);
  EXPECT_EQ(a.gid, 10000u);
  EXPECT_EQ(a.home, "/home/alice");
  EXPECT_EQ(a.maildir, "/home/alice/Maildir");
  EXPECT_EQ(a.quota, "1000S");
  EXPECT_EQ(a.fullname, "Alice Able");
  EXPECT_EQ(a.options, "disableimap=1");

  const Row full = good_row();
  Row six(full.begin(), full.begin() + 6);
  six[0] = std::nullopt;  // NULL login column: the name asked for
  six[1] = std::nullopt;
  six[2] = std::string("clear pw");
  auto r6 = authlib::pgsql::account_from_row(six, "alice@example.test", labels);
  ASSERT_TRUE(std::holds_alternative<authlib::Account>(r6)) << std::get<authlib::pgsql::RowError>(r6).reason;
  const auto& a6 = std::get<authlib::Account>(r6);
  EXPECT_EQ(a6.address, "alice@example.test");
  EXPECT_TRUE(a6.crypted_password.empty());
  EXPECT_EQ(a6.clear_password.reveal(), "clear pw");
  EXPECT_TRUE(a6.maildir.empty());
  EXPECT_TRUE(a6.options.empty());
}

TEST(PgsqlRow, BadRows) {
  struct Case {
    const char* label;
    size_t column;
    std::optional<std::string> value;
    std::vector<std::string> reason_has;
  };
  const std::vector<Case> cases = {
      {"NULL uid", 3, std::nullopt, {"PGSQL_UID_FIELD uid", "NULL"}},
      {"malformed uid", 3, std::string("ten"), {"PGSQL_UID_FIELD uid", "'ten'", "not a uid"}},
      {"negative gid", 4, std::string("-5"), {"PGSQL_GID_FIELD gid", "not a gid"}},
      {"NULL gid", 4, std::nullopt, {"PGSQL_GID_FIELD gid", "NULL"}},
      {"root uid", 3, std::string("0"), {"PGSQL_UID_FIELD uid", "0 (root)"}},
      {"root gid", 4, std::string(" 0"), {"PGSQL_GID_FIELD gid", "0 (root)"}},
      {"NULL home", 5, std::nullopt, {"PGSQL_HOME_FIELD home", "NULL"}},
      {"empty home", 5, std::string(""), {"PGSQL_HOME_FIELD home", "empty"}},
      {"relative home", 5, std::string("home/alice"), {"PGSQL_HOME_FIELD home", "not an absolute path"}},
      {"newline in the name", 8, std::string("Alice\nUID=0"), {"PGSQL_NAME_FIELD name", "control character"}},
      {"newline in options", 9, std::string("a=1\nHOME=/"), {"PGSQL_AUXOPTIONS_FIELD options"}},
      {"control character in the clear password", 2, std::string("pw\x01"), {"PGSQL_CLEAR_PWFIELD clear"}},
      {"oversized maildir", 6, std::string(authlib::pgsql::max_path_bytes + 1, 'm'),
       {"PGSQL_MAILDIR_FIELD maildir", "the limit is"}},
      {"oversized hash", 1, std::string(authlib::max_stored_hash_bytes + 1, 'h'), {"PGSQL_CRYPT_PWFIELD"}},
  };
  for (const auto& c : cases) {
    Row row = good_row();
    row[c.column] = c.value;
    auto r = authlib::pgsql::account_from_row(row, "alice", labels);
    ASSERT_TRUE(std::holds_alternative<authlib::pgsql::RowError>(r)) << c.label;
    const auto& why = std::get<authlib::pgsql::RowError>(r).reason;
    for (const auto& part : c.reason_has) EXPECT_TRUE(contains(why, part)) << c.label << ": " << why;
    EXPECT_FALSE(contains(why, "pw\x01")) << c.label << ": a password was quoted";
  }
  // Missing columns count as NULL.
  const Row full = good_row();
  Row short_row(full.begin(), full.begin() + 5);
  auto r = authlib::pgsql::account_from_row(short_row, "alice", labels);
  ASSERT_TRUE(std::holds_alternative<authlib::pgsql::RowError>(r));
  EXPECT_TRUE(contains(std::get<authlib::pgsql::RowError>(r).reason, "home"))
      << std::get<authlib::pgsql::RowError>(r).reason;
}

// ---------------------------------------------------------------------------
// parse_settings

lib::Result<authlib::pgsql::Settings> settings_from(const std::string& text, lib::Config* keep = nullptr) {
  auto rc = lib::Config::parse_spaced(text, "authpgsqlrc");
  if (!rc) return rc.error();
  auto s = authlib::pgsql::parse_settings(*rc, "authpgsqlrc");
  if (keep) *keep = *rc;
  return s;
}

const std::string base =
    "PGSQL_CONNECTION host=/run/pg dbname=mail user=courier password='top secret'\n"
    "PGSQL_USER_TABLE passwd\n"
    "PGSQL_CRYPT_PWFIELD crypt\n";

TEST(PgsqlSettings, DefaultQueries) {
  auto s = settings_from(base);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->select.statement.sql,
            "SELECT \"id\", \"crypt\", '', \"uid\", \"gid\", \"home\", '', '', '', '' FROM \"passwd\" WHERE "
            "\"id\" = $1");
  EXPECT_EQ(s->select.statement.parameters, std::vector<Placeholder>{Placeholder::login});
  EXPECT_FALSE(s->select.custom);
  EXPECT_EQ(s->select.columns.size(), 10u);
  EXPECT_EQ(s->enumerate.statement.sql,
            "SELECT \"id\", \"uid\", \"gid\", \"home\", '', '' FROM \"passwd\" WHERE TRUE");
  EXPECT_EQ(s->chpass.statement.sql, "UPDATE \"passwd\" SET \"crypt\" = $1 WHERE \"id\" = $2");
  EXPECT_EQ(s->chpass.statement.parameters, (std::vector<Placeholder>{NC, Placeholder::login}));
  EXPECT_FALSE(s->chpass_has_clear);
  EXPECT_EQ(s->connection.server, "socket /run/pg/.s.PGSQL.5432");
  EXPECT_TRUE(contains(s->connection.setting, "PGSQL_CONNECTION (authpgsqlrc:1)"));
  EXPECT_EQ(s->connection.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(s->connection.statement_timeout, std::chrono::seconds(5));
}

TEST(PgsqlSettings, AllFieldsAndWhere) {
  auto s = settings_from(base +
                         "PGSQL_CLEAR_PWFIELD clear\n"
                         "PGSQL_LOGIN_FIELD login\n"
                         "PGSQL_UID_FIELD '5000'\n"
                         "PGSQL_GID_FIELD 5000\n"
                         "PGSQL_HOME_FIELD home\n"
                         "PGSQL_MAILDIR_FIELD maildir\n"
                         "PGSQL_DEFAULTDELIVERY defaultdelivery\n"
                         "PGSQL_QUOTA_FIELD quota\n"
                         "PGSQL_NAME_FIELD \"Full Name\"\n"
                         "PGSQL_AUXOPTIONS_FIELD options\n"
                         "PGSQL_WHERE_CLAUSE active = 1 AND domain = '$(domain)'\n"
                         "DEFAULT_DOMAIN example.test\n");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->select.statement.sql,
            "SELECT \"login\", \"crypt\", \"clear\", '5000', 5000, \"home\", \"maildir\", \"quota\", "
            "\"Full Name\", \"options\" FROM \"passwd\" WHERE \"login\" = $1 AND (active = 1 AND domain = $2)");
  EXPECT_EQ(s->select.statement.parameters, (std::vector<Placeholder>{Placeholder::login, D}));
  EXPECT_TRUE(contains(s->select_courier.statement.sql, "\"defaultdelivery\""));
  EXPECT_FALSE(contains(s->select_courier.statement.sql, "\"maildir\""));
  EXPECT_EQ(s->enumerate.statement.sql,
            "SELECT \"login\", '5000', 5000, \"home\", \"maildir\", \"options\" FROM \"passwd\" WHERE TRUE AND "
            "(active = 1 AND domain = $1)");
  EXPECT_EQ(s->enumerate.statement.parameters, std::vector<Placeholder>{D});
  EXPECT_EQ(s->chpass.statement.sql,
            "UPDATE \"passwd\" SET \"clear\" = $1, \"crypt\" = $2 WHERE \"login\" = $3 AND (active = 1 AND "
            "domain = $4)");
  EXPECT_EQ(s->chpass.statement.parameters, (std::vector<Placeholder>{NP, NC, Placeholder::login, D}));
  EXPECT_TRUE(s->chpass_has_clear);
  EXPECT_EQ(s->default_domain, "example.test");
}

TEST(PgsqlSettings, CustomClauses) {
  auto s = settings_from(base +
                         "PGSQL_SELECT_CLAUSE SELECT id, crypt, clear, uid, gid, home, maildir, quota, name, \\\n"
                         "  options FROM passwd WHERE id = '$(local_part)@$(domain)' AND '$(service)' <> 'x'\n");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->select.custom);
  EXPECT_TRUE(contains(s->select.origin, "PGSQL_SELECT_CLAUSE (authpgsqlrc:4)"));
  EXPECT_TRUE(contains(s->select.statement.sql, "WHERE id = ($1::text || '@' || $2::text) AND $3 <> 'x'"))
      << s->select.statement.sql;
  EXPECT_EQ(s->select_courier.statement.sql, s->select.statement.sql);
  EXPECT_FALSE(s->enumerate.custom);  // still generated from the table

  // All three custom: no table needed.
  auto all = settings_from(
      "PGSQL_CONNECTION dbname=mail\n"
      "PGSQL_SELECT_CLAUSE SELECT 1 WHERE '$(local_part)' = 'a'\n"
      "PGSQL_ENUMERATE_CLAUSE SELECT id, uid, gid, home, '', '' FROM passwd\n"
      "PGSQL_CHPASS_CLAUSE UPDATE passwd SET crypt = '$(newpass_crypt)' WHERE id = '$(local_part)'\n");
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(all->chpass.statement.sql, "UPDATE passwd SET crypt = $1 WHERE id = $2");
  EXPECT_EQ(all->chpass.statement.parameters, (std::vector<Placeholder>{NC, L}));
}

TEST(PgsqlSettings, OlderConnectionForm) {
  auto s = settings_from(
      "PGSQL_HOST /run/pg\nPGSQL_PORT 5433\nPGSQL_USERNAME courier\nPGSQL_PASSWORD se cret\n"
      "PGSQL_DATABASE mail\nPGSQL_USER_TABLE passwd\nPGSQL_CLEAR_PWFIELD clear\n");
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto parsed = parse_conninfo(s->connection.conninfo);
  EXPECT_EQ(parsed["password"], "se cret");
  EXPECT_EQ(parsed["dbname"], "mail");
  EXPECT_EQ(s->connection.server, "socket /run/pg/.s.PGSQL.5433");
  EXPECT_TRUE(contains(s->connection.setting, "PGSQL_HOST"));
  EXPECT_FALSE(contains(s->connection.setting, "se cret"));
  EXPECT_EQ(s->chpass.statement.sql, "UPDATE \"passwd\" SET \"clear\" = $1 WHERE \"id\" = $2");

  lib::Config rc;
  auto both = settings_from(base + "PGSQL_HOST db.example\n", &rc);
  ASSERT_TRUE(both.ok()) << both.error().message;
  EXPECT_EQ(both->connection.server, "socket /run/pg/.s.PGSQL.5432");
  ASSERT_FALSE(rc.warnings().empty());
  EXPECT_TRUE(contains(rc.warnings().back(), "PGSQL_HOST is ignored")) << rc.warnings().back();
}

TEST(PgsqlSettings, Warnings) {
  lib::Config rc;
  auto s = settings_from(base +
                         "PGSQL_UID_FEILD uid\n"
                         "PGSQL_AUXOPTIONS options\n"
                         "DEFAULT_DOMAIN a.test\nPGSQL_DEFAULT_DOMAIN b.test\n",
                         &rc);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->default_domain, "b.test");
  EXPECT_TRUE(contains(s->select.statement.sql, "\"options\" FROM")) << s->select.statement.sql;
  std::string all;
  for (const auto& w : rc.warnings()) all += w + "\n";
  EXPECT_TRUE(contains(all, "PGSQL_UID_FEILD")) << all;
  EXPECT_TRUE(contains(all, "PGSQL_DEFAULT_DOMAIN and DEFAULT_DOMAIN")) << all;
  EXPECT_FALSE(s->connection.connect_timeout_set);
  EXPECT_TRUE(s->connection.conninfo_has_password);

  // Both connection timeouts: the setting wins, with a warning.
  lib::Config rc2;
  auto t = settings_from("PGSQL_CONNECTION dbname=mail connect_timeout=10\nPGSQL_CONNECT_TIMEOUT 2\n"
                         "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\n",
                         &rc2);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->connection.connect_timeout_set);
  EXPECT_TRUE(t->connection.conninfo_has_connect_timeout);
  EXPECT_FALSE(t->connection.conninfo_has_password);
  EXPECT_EQ(t->connection.connect_timeout, std::chrono::seconds(2));
  ASSERT_FALSE(rc2.warnings().empty());
  EXPECT_TRUE(contains(rc2.warnings().back(), "PGSQL_CONNECT_TIMEOUT overrides")) << rc2.warnings().back();
}

TEST(PgsqlSettings, Errors) {
  struct Case {
    const char* label;
    std::string text;
    std::vector<std::string> message_has;
  };
  const std::string conn = "PGSQL_CONNECTION dbname=mail\n";
  const std::vector<Case> cases = {
      {"no connection", "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\n",
       {"authpgsqlrc", "PGSQL_CONNECTION is not set"}},
      {"malformed connection hides words", "PGSQL_CONNECTION host=/x password=se cret\n",
       {"PGSQL_CONNECTION (authpgsqlrc:1)", "not a valid libpq connection string", "(hidden)"}},
      {"unknown connection keyword", "PGSQL_CONNECTION hots=/x\n", {"not a valid libpq connection string"}},
      {"no table", conn + "PGSQL_CRYPT_PWFIELD crypt\n", {"PGSQL_USER_TABLE is not set"}},
      {"bad table", conn + "PGSQL_USER_TABLE passwd; DROP TABLE x\nPGSQL_CRYPT_PWFIELD crypt\n",
       {"PGSQL_USER_TABLE (authpgsqlrc:2)", "not a table name"}},
      {"no password column", conn + "PGSQL_USER_TABLE passwd\n",
       {"neither PGSQL_CRYPT_PWFIELD nor PGSQL_CLEAR_PWFIELD"}},
      {"expression as column", conn + "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\nPGSQL_UID_FIELD uid+1\n",
       {"PGSQL_UID_FIELD (authpgsqlrc:4)", "not a column name"}},
      {"expression as options", conn + "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\n"
                                       "PGSQL_AUXOPTIONS_FIELD 'disableimap=' || imap\n",
       {"PGSQL_AUXOPTIONS_FIELD (authpgsqlrc:4)"}},
      {"constant login", conn + "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\nPGSQL_LOGIN_FIELD 'x'\n",
       {"PGSQL_LOGIN_FIELD (authpgsqlrc:4)", "must name a column"}},
      {"constant password columns", conn + "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD ''\n",
       {"PGSQL_CHPASS_CLAUSE"}},
      {"unknown placeholder in select",
       conn + "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\nPGSQL_SELECT_CLAUSE SELECT '$(user)'\n",
       {"PGSQL_SELECT_CLAUSE (authpgsqlrc:4)", "$(user)"}},
      {"newpass in enumerate",
       conn + "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\nPGSQL_ENUMERATE_CLAUSE SELECT '$(newpass)'\n",
       {"PGSQL_ENUMERATE_CLAUSE (authpgsqlrc:4)", "$(newpass)"}},
      {"unterminated chpass",
       conn + "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\nPGSQL_CHPASS_CLAUSE UPDATE x SET a = '$(newpass)\n",
       {"PGSQL_CHPASS_CLAUSE (authpgsqlrc:4)", "not closed"}},
      {"bad where", conn + "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\nPGSQL_WHERE_CLAUSE a = $(oops\n",
       {"PGSQL_WHERE_CLAUSE (authpgsqlrc:4)", "not closed"}},
      {"bad character set", base + "PGSQL_CHARACTER_SET KLINGON\n", {"PGSQL_CHARACTER_SET (authpgsqlrc:4)"}},
      {"statement timeout too long", base + "PGSQL_STATEMENT_TIMEOUT 2h\n", {"PGSQL_STATEMENT_TIMEOUT"}},
      {"bad default domain", base + "DEFAULT_DOMAIN a@b\n", {"DEFAULT_DOMAIN (authpgsqlrc:4)"}},
  };
  for (const auto& c : cases) {
    auto s = settings_from(c.text);
    ASSERT_FALSE(s.ok()) << c.label;
    EXPECT_EQ(s.error().kind, lib::ErrorKind::permanent) << c.label;
    for (const auto& part : c.message_has)
      EXPECT_TRUE(contains(s.error().message, part)) << c.label << ": '" << part << "' not in: " << s.error().message;
    EXPECT_FALSE(contains(s.error().message, "cret")) << c.label << ": " << s.error().message;
  }
  auto ok = settings_from(base + "PGSQL_CHARACTER_SET UTF8\nPGSQL_CONNECT_TIMEOUT 10\n");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->connection.character_set, "UTF8");
  EXPECT_EQ(ok->connection.connect_timeout, std::chrono::seconds(10));
}

// ---------------------------------------------------------------------------
// The module without a server

struct ModuleFixture {
  testutil::TempDir dir;
  lib::Config daemonrc;
  std::unique_ptr<authlib::Module> module;

  explicit ModuleFixture(const std::string& rc_text) {
    testutil::write_file(dir / "pg.rc", rc_text);
    daemonrc.set("AUTHPGSQLRC", dir / "pg.rc");
    auto m = authlib::make_pgsql_module(authlib::ModuleContext{daemonrc, dir.path()});
    EXPECT_TRUE(m.ok()) << m.error().message;
    if (m) module = std::move(m.value());
  }
};

// A socket folder that does not exist: connecting fails at once.
const std::string unreachable =
    "PGSQL_CONNECTION host=/nonexistent/pgsql-test port=5999 dbname=mail user=courier password=s3cretpw\n"
    "PGSQL_USER_TABLE passwd\nPGSQL_CRYPT_PWFIELD crypt\nPGSQL_CONNECT_TIMEOUT 2\n";

TEST(PgsqlModule, Factory) {
  testutil::TempDir dir;
  lib::Config daemonrc;
  auto missing = authlib::make_pgsql_module(authlib::ModuleContext{daemonrc, dir.path()});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.error().message, dir / "authpgsqlrc")) << missing.error().message;
  EXPECT_TRUE(contains(missing.error().message, "authmodulelist")) << missing.error().message;

  testutil::write_file(dir / "authpgsqlrc", "PGSQL_CONNECTION dbname=mail\n");
  auto incomplete = authlib::make_pgsql_module(authlib::ModuleContext{daemonrc, dir.path()});
  ASSERT_FALSE(incomplete.ok());
  EXPECT_TRUE(contains(incomplete.error().message, "PGSQL_USER_TABLE")) << incomplete.error().message;

  testutil::write_file(dir / "authpgsqlrc", unreachable);
  auto ok = authlib::make_pgsql_module(authlib::ModuleContext{daemonrc, dir.path()});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ((*ok)->name(), "authpgsql");
}

TEST(PgsqlModule, ServerDownIsTemporaryAndNamesTheSocket) {
  ModuleFixture f(unreachable);
  ASSERT_TRUE(f.module);
  for (int attempt = 0; attempt < 2; ++attempt) {  // the second request reconnects, and fails alike
    auto r = f.module->lookup("alice@example.test", "imap");
    EXPECT_EQ(r.outcome, authlib::Outcome::temporary) << r.reason;
    EXPECT_TRUE(contains(r.reason, "socket /nonexistent/pgsql-test/.s.PGSQL.5999")) << r.reason;
    EXPECT_TRUE(contains(r.reason, "No such file or directory")) << r.reason;
    EXPECT_TRUE(contains(r.reason, "PGSQL_CONNECTION")) << r.reason;
    EXPECT_FALSE(contains(r.reason, "s3cretpw")) << r.reason;
  }
  auto listed = f.module->enumerate([](const authlib::Account&) { ADD_FAILURE() << "no rows expected"; });
  ASSERT_FALSE(listed.ok());
  EXPECT_TRUE(listed.error().temporary());
  EXPECT_TRUE(contains(listed.error().message, ".s.PGSQL.5999")) << listed.error().message;

  auto changed = f.module->change_password("imap", "alice", lib::Secret(std::string_view("old")), lib::Secret(std::string_view("new")));
  EXPECT_EQ(changed.outcome, authlib::Outcome::temporary) << changed.reason;
}

TEST(PgsqlModule, HostileLoginsRejectedBeforeAnyQuery) {
  ModuleFixture f(unreachable);
  ASSERT_TRUE(f.module);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty login name"},
      {std::string(authlib::pgsql::max_login_bytes + 1, 'a'), "the limit is"},
      {"alice\nUID=0", "control characters"},
      {std::string("al\0ice", 6), "control characters"},
  };
  for (const auto& [user, why] : cases) {
    auto r = f.module->lookup(user, "imap");
    // Rejected, not temporary: the (unreachable) server was never asked.
    EXPECT_EQ(r.outcome, authlib::Outcome::rejected) << r.reason;
    EXPECT_TRUE(contains(r.reason, why)) << r.reason;
  }
  // New passwords that would make the row unreadable, or that no scheme takes.
  for (const std::string& bad : {std::string(""), std::string("new\npw"), std::string("tab\tpw"),
                                std::string(513, 'p')}) {
    auto r = f.module->change_password("imap", "alice", lib::Secret(std::string_view("old")),
                                       lib::Secret(std::string_view(bad)));
    EXPECT_EQ(r.outcome, authlib::Outcome::rejected) << r.reason;
    EXPECT_TRUE(contains(r.reason, "new password")) << r.reason;
  }
}

}  // namespace
