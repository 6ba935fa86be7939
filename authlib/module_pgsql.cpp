// authlib/module_pgsql.cpp: authpgsql, Courier's PostgreSQL module, on libpq:
// the connection and the module (settings, statements and rows are in
// pgsql_settings.cpp).
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
#include <unordered_map>
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

using PgConn = lib::CHandle<PGconn, PQfinish>;
using PgResult = lib::CHandle<PGresult, PQclear>;

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

  // One of the module's statements, prepared on this connection the first
  // time it runs (and again after a reconnect, which starts a new session):
  // the server parses and plans it once, not on every request. on_row sees
  // every result holding rows (one row each when row_by_row: single-row
  // mode, so a large result is never held whole). affected gets the
  // command's row count for INSERT/UPDATE/DELETE, -1 for a query.
  std::optional<DbFailure> run(const std::string& sql, const std::vector<const char*>& params,
                               const RowFn& on_row, long long* affected,
                               std::span<const std::string_view> secrets, bool row_by_row = false) {
    if (affected) *affected = -1;
    if (!conn_) return DbFailure{false, {}, "no connection to PostgreSQL at " + s_.server};
    for (int attempt = 0;; ++attempt) {
      auto it = prepared_.find(sql);
      if (it == prepared_.end()) {
        std::string name = "authpgsql_" + std::to_string(++prepared_count_);
        PGconn* c = conn_.get();
        if (!PQsendPrepare(c, name.c_str(), sql.c_str(), static_cast<int>(params.size()), nullptr))
          return conn_failure(c, "sending the statement failed");
        if (auto f = drain(c, nullptr, nullptr, secrets)) return f;
        it = prepared_.emplace(sql, std::move(name)).first;
      }
      auto f = execute(sql, params, on_row, affected, secrets, it->second.c_str(), row_by_row);
      // 26000: the session lost the statement (DISCARD ALL by a pooler):
      // prepare it again, once.
      if (!f || f->sqlstate != "26000" || attempt > 0 || !conn_) return f;
      prepared_.clear();
    }
  }

  // A statement without parameters or rows (BEGIN, COMMIT, ROLLBACK).
  std::optional<DbFailure> command(const char* sql) {
    return execute(sql, {}, nullptr, nullptr, {}, nullptr, false);
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
  // Sends sql (or the prepared statement `prepared`, when not null) and reads
  // its results.
  std::optional<DbFailure> execute(const std::string& sql, const std::vector<const char*>& params,
                                   const RowFn& on_row, long long* affected,
                                   std::span<const std::string_view> secrets, const char* prepared,
                                   bool row_by_row) {
    if (affected) *affected = -1;
    if (!conn_) return DbFailure{false, {}, "no connection to PostgreSQL at " + s_.server};
    PGconn* c = conn_.get();
    const int sent = prepared ? PQsendQueryPrepared(c, prepared, static_cast<int>(params.size()), params.data(),
                                                    nullptr, nullptr, 0)
                              : PQsendQueryParams(c, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                                  params.data(), nullptr, nullptr, 0);
    if (!sent) return conn_failure(c, "sending the statement failed");
    // If refused, results arrive whole; both are handled below.
    if (row_by_row) PQsetSingleRowMode(c);
    return drain(c, on_row, affected, secrets);
  }

  // Reads the results of what was sent on c, until the last.
  std::optional<DbFailure> drain(PGconn* c, const RowFn& on_row, long long* affected,
                                 std::span<const std::string_view> secrets) {
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
    prepared_.clear();  // a new session: nothing is prepared in it yet
    if (PQstatus(c) != CONNECTION_OK)
      return DbFailure{true, {},
                       "cannot connect to PostgreSQL at " + server() + " (" + s_.setting +
                           "): " + one_line(PQerrorMessage(c)) +
                           "; start PostgreSQL or correct the connection setting"};
    // A statement that runs longer than this is cancelled by the server, so a
    // worker is never stuck behind a lock or a runaway clause.
    const std::string set = "SET statement_timeout = " +
                            std::to_string(s_.statement_timeout.count() * 1000);
    if (auto f = execute(set, {}, nullptr, nullptr, {}, nullptr, false)) {
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
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
  unsigned long prepared_count_ = 0;  // names are never reused within the process
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

// How often a worker looks at authpgsqlrc (one stat(2)) for an edit.
constexpr std::chrono::seconds rc_check_interval{1};

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
    // local_part and domain are only parameters; login names the account in replies.
    Values v{std::move(parts.local_part), std::move(parts.domain), std::string(service), parts.login, nullptr,
             nullptr};
    const Query& q = service == "courier" ? s_.select_courier : s_.select;
    if (const int debug = lib::log::debug_switch("DEBUG_LOGIN"); debug >= 1) {
      lib::log::debug_if("DEBUG_LOGIN", 1, "authpgsql: looking up %s (service %s) with %s",
                         parts.login.c_str(), v.service.c_str(), q.origin.c_str());
      if (debug >= 2) lib::log::debug_if("DEBUG_LOGIN", 2, "authpgsql: SQL: %s", q.statement.sql.c_str());
    }
    const auto params = bind(q.statement, v);
    // What the rows handler fills, behind one pointer so the handler fits in
    // std::function's inline storage (no allocation per request).
    struct Found {
      std::vector<Row> rows;
      size_t matched = 0;
      std::vector<std::string> custom_labels;  // a custom clause's column names
    } found;
    auto failure = db_.with_retry([&] {
      found.rows.clear();
      found.matched = 0;
      // The generated query matches one row (a few if the login column is
      // not unique): its result comes whole, one PGresult rather than one a
      // row and an empty last one. An admin's clause may match a whole
      // table: row by row, two kept.
      return db_.run(q.statement.sql, params, [&found, &q](const PGresult* r) {
        for (int i = 0; i < PQntuples(r); ++i) {
          if (++found.matched <= 2) found.rows.push_back(copy_row(r, i));
          if (q.custom && found.custom_labels.empty()) found.custom_labels = column_labels(q, r);
        }
      }, nullptr, {}, q.custom);
    });
    const std::vector<Row>& rows = found.rows;
    const size_t matched = found.matched;
    // The generated SELECT's labels are fixed: used in place, not copied.
    const std::span<const std::string> labels = q.custom ? found.custom_labels : q.columns;
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
      }, nullptr, {}, true);
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
  // An edited authpgsqlrc takes effect without a restart, as in Courier; a
  // broken edit is logged and the previous settings stay. The file is
  // stat()ed at most once a second (Courier does it at every request), so
  // every request that starts a second or more after an edit uses it: the
  // worker's last look at the file, if it was less than a second ago, was
  // after the edit.
  void reload_if_changed() {
    const auto t = std::chrono::steady_clock::now();
    if (t < next_check_) return;
    next_check_ = t + rc_check_interval;
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
  std::chrono::steady_clock::time_point next_check_{};  // the first request looks
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
