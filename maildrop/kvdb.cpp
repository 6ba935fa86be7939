// maildrop/kvdb.cpp: see kvdb.hpp.
#include "maildrop/kvdb.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cstring>
#include <vector>

#include "lib/unique_fd.hpp"

namespace maildrop {
namespace {
std::string db_text(int rc) { return db_strerror(rc); }
DBT dbt(std::string_view s) {
  DBT d;
  std::memset(&d, 0, sizeof d);
  d.data = const_cast<char*>(s.data());
  d.size = static_cast<u_int32_t>(s.size());
  return d;
}
}  // namespace

lib::Result<KeyValueDb> KeyValueDb::open(const std::string& path, std::string_view mode) {
  u_int32_t flags = 0;
  if (mode.empty() || mode == "R" || mode == "r") flags = DB_RDONLY;
  else if (mode == "W" || mode == "w") flags = 0;
  else if (mode == "C" || mode == "c") flags = DB_CREATE;
  else if (mode == "N" || mode == "n") flags = DB_CREATE | DB_TRUNCATE;
  else return lib::permanent_error("database mode \"" + std::string(mode) + "\" is not R, W, C or N");
  DB* raw = nullptr;
  int rc = ::db_create(&raw, nullptr, 0);
  if (rc != 0) return lib::temporary_error("Berkeley DB: db_create: " + db_text(rc));
  lib::DbHandle h(raw);
  rc = raw->open(raw, nullptr, path.c_str(), nullptr, DB_HASH, flags, 0600);
  if (rc != 0) return lib::temporary_error("cannot open database " + path + ": " + db_text(rc));
  return KeyValueDb(path, std::move(h));
}

lib::Result<std::optional<std::string>> KeyValueDb::fetch(std::string_view key) const {
  DBT k = dbt(key), v;
  std::memset(&v, 0, sizeof v);
  int rc = db_.get()->get(db_.get(), nullptr, &k, &v, 0);
  if (rc == DB_NOTFOUND) return std::optional<std::string>();
  if (rc != 0) return lib::temporary_error("reading database " + path_ + ": " + db_text(rc));
  return std::optional<std::string>(std::string(static_cast<const char*>(v.data), v.size));
}

lib::Result<void> KeyValueDb::store(std::string_view key, std::string_view value) {
  DBT k = dbt(key), v = dbt(value);
  int rc = db_.get()->put(db_.get(), nullptr, &k, &v, 0);
  if (rc != 0) return lib::temporary_error("writing database " + path_ + ": " + db_text(rc));
  return {};
}

lib::Result<void> KeyValueDb::remove(std::string_view key) {
  DBT k = dbt(key);
  int rc = db_.get()->del(db_.get(), nullptr, &k, 0);
  if (rc != 0 && rc != DB_NOTFOUND) return lib::temporary_error("writing database " + path_ + ": " + db_text(rc));
  return {};
}

lib::Result<void> KeyValueDb::for_each(const std::function<void(std::string_view, std::string_view)>& fn) const {
  DBC* cursor = nullptr;
  int rc = db_.get()->cursor(db_.get(), nullptr, &cursor, 0);
  if (rc != 0) return lib::temporary_error("reading database " + path_ + ": " + db_text(rc));
  DBT k, v;
  std::memset(&k, 0, sizeof k);
  std::memset(&v, 0, sizeof v);
  while ((rc = cursor->get(cursor, &k, &v, DB_NEXT)) == 0)
    fn(std::string_view(static_cast<const char*>(k.data), k.size), std::string_view(static_cast<const char*>(v.data), v.size));
  cursor->close(cursor);
  if (rc != DB_NOTFOUND) return lib::temporary_error("reading database " + path_ + ": " + db_text(rc));
  return {};
}

lib::Result<void> KeyValueDb::sync() {
  int rc = db_.get()->sync(db_.get(), 0);
  if (rc != 0) return lib::temporary_error("syncing database " + path_ + ": " + db_text(rc));
  return {};
}

lib::Result<bool> seen_before(const std::string& db_path, std::string_view message_id, std::time_t expire_s,
                              std::time_t now) {
  // Berkeley DB without an environment does no locking: serialize writers.
  lib::UniqueFd lock(::open((db_path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return lib::temporary_error("cannot open " + db_path + ".lock: " + lib::errno_text(errno));
  if (::flock(lock.get(), LOCK_EX) != 0) return lib::temporary_error("cannot lock " + db_path + ".lock: " + lib::errno_text(errno));
  auto db = KeyValueDb::open(db_path, "C");
  if (!db) return db.error();
  auto old = db->fetch(message_id);
  if (!old) return old.error();
  if (*old && now - std::strtoll((*old)->c_str(), nullptr, 10) < expire_s) return true;
  if (auto r = db->store(message_id, std::to_string(now)); !r) return r.error();
  if (now % 50 == 0) {  // now and then, prune expired entries
    std::vector<std::string> stale;
    auto each = db->for_each([&](std::string_view k, std::string_view v) {
      if (now - std::strtoll(std::string(v).c_str(), nullptr, 10) >= expire_s) stale.emplace_back(k);
    });
    if (!each) return each.error();
    for (const auto& k : stale)
      if (auto r = db->remove(k); !r) return r.error();
  }
  if (auto r = db->sync(); !r) return r.error();
  return false;
}

}  // namespace maildrop
