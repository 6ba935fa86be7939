// lib/dbfile.cpp: see dbfile.hpp.
#include "lib/dbfile.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <thread>
#include <unistd.h>

#include "lib/unique_fd.hpp"

namespace lib {
namespace {

constexpr int open_attempts = 5;
constexpr auto retry_pause = std::chrono::milliseconds(20);

DBT make_dbt(std::string_view s) {
  DBT d;
  std::memset(&d, 0, sizeof d);
  d.data = const_cast<char*>(s.data());
  d.size = static_cast<u_int32_t>(s.size());
  return d;
}

// Berkeley DB writes its detailed diagnostics to stderr unless given a
// callback; keep the last one to put into our own error message instead.
thread_local std::string last_db_message;

void remember_db_message(const DB_ENV*, const char*, const char* message) noexcept {
  try {
    last_db_message = message ? message : "";
  } catch (...) {
  }
}

std::string db_error_text(int rc) {
  // Berkeley DB returns errno values or its own negative codes; db_strerror knows both.
  std::string text = ::db_strerror(rc);
  if (!last_db_message.empty()) text += " (" + std::exchange(last_db_message, {}) + ")";
  return text;
}

// Errors that mean "this is not a usable database", as opposed to "cannot read it now".
bool is_format_error(int rc) {
  return rc == EINVAL || rc == DB_OLD_VERSION || rc == DB_VERIFY_BAD || rc == DB_RUNRECOVERY;
}

Result<DbHandle> open_db(const std::string& path, u_int32_t flags, int mode, int* rc_out) {
  DB* raw = nullptr;
  int rc = ::db_create(&raw, nullptr, 0);
  if (rc != 0) return temporary_error("Berkeley DB: db_create: " + db_error_text(rc));
  DbHandle db(raw);
  raw->set_errcall(raw, remember_db_message);
  last_db_message.clear();
  rc = raw->open(raw, nullptr, path.c_str(), nullptr, DB_HASH, flags, mode);
  *rc_out = rc;
  if (rc != 0) return temporary_error(db_error_text(rc));
  return db;
}

}  // namespace

int DbHandle::close() noexcept {
  if (!db_) return 0;
  int rc = db_->close(db_, 0);
  db_ = nullptr;
  return rc;
}

Result<DbFile> DbFile::open_read(const std::string& path, std::string_view rebuild_hint) {
  int rc = 0;
  for (int attempt = 1;; ++attempt) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      rc = errno;
    } else {
      auto db = open_db(path, DB_RDONLY, 0, &rc);
      if (db) {
        // The file may have been replaced between stat and open; recording
        // the old inode only costs one needless reopen later.
        return DbFile(path, std::string(rebuild_hint), std::move(*db), st.st_ino, st.st_dev);
      }
    }
    if (attempt >= open_attempts || rc == EACCES) break;
    std::this_thread::sleep_for(retry_pause);
  }
  if (rc == ENOENT)
    return permanent_error(path + ": " + db_error_text(rc) + "; build it with " + std::string(rebuild_hint));
  if (rc == EACCES)
    return permanent_error(path + ": " + db_error_text(rc) +
                           "; the file must be readable by the account this program runs as");
  if (is_format_error(rc))
    return permanent_error(path + " is not a valid Berkeley DB hash file (" + db_error_text(rc) +
                           "); it may be corrupt: rebuild it with " + std::string(rebuild_hint));
  return temporary_error(path + ": cannot open: " + db_error_text(rc));
}

Result<std::optional<std::string>> DbFile::lookup(std::string_view key) const {
  DBT k = make_dbt(key);
  DBT v;
  std::memset(&v, 0, sizeof v);
  DB* db = db_.get();
  int rc = db->get(db, nullptr, &k, &v, 0);
  if (rc == DB_NOTFOUND) return std::optional<std::string>();
  if (rc != 0)
    return temporary_error(path_ + ": read error: " + db_error_text(rc) + "; if it persists, rebuild it with " + hint_);
  return std::optional<std::string>(std::string(static_cast<const char*>(v.data), v.size));
}

Result<void> DbFile::for_each(const std::function<bool(std::string_view, std::string_view)>& fn) const {
  DB* db = db_.get();
  DBC* cursor = nullptr;
  int rc = db->cursor(db, nullptr, &cursor, 0);
  if (rc != 0) return temporary_error(path_ + ": cannot iterate: " + db_error_text(rc));
  DBT k, v;
  std::memset(&k, 0, sizeof k);
  std::memset(&v, 0, sizeof v);
  while ((rc = cursor->get(cursor, &k, &v, DB_NEXT)) == 0) {
    if (!fn({static_cast<const char*>(k.data), k.size}, {static_cast<const char*>(v.data), v.size})) break;
  }
  cursor->close(cursor);
  if (rc != 0 && rc != DB_NOTFOUND)
    return temporary_error(path_ + ": read error: " + db_error_text(rc) + "; if it persists, rebuild it with " + hint_);
  return {};
}

Result<bool> DbFile::reopen_if_replaced() {
  struct stat st;
  if (::stat(path_.c_str(), &st) == 0 && st.st_ino == ino_ && st.st_dev == dev_) return false;
  auto fresh = open_read(path_, hint_);
  if (!fresh) return fresh.error();
  *this = std::move(*fresh);
  return true;
}

Result<DbBuilder> DbBuilder::create(const std::string& final_path, mode_t mode) {
  // The temporary name is unique per process so two make* runs cannot collide;
  // it lives in the same directory so the rename is atomic.
  std::string temp = final_path + ".tmp." + std::to_string(::getpid());
  ::unlink(temp.c_str());
  int rc = 0;
  auto db = open_db(temp, DB_CREATE | DB_EXCL, static_cast<int>(mode), &rc);
  if (!db) return temporary_error(temp + ": cannot create: " + db_error_text(rc));
  // Berkeley DB applies the umask; set the mode the caller asked for exactly.
  ::chmod(temp.c_str(), mode);
  return DbBuilder(final_path, temp, std::move(*db));
}

DbBuilder::~DbBuilder() {
  if (!committed_ && !temp_path_.empty()) {
    db_.close();
    ::unlink(temp_path_.c_str());
  }
}

Result<void> DbBuilder::put(std::string_view key, std::string_view value) {
  DBT k = make_dbt(key), v = make_dbt(value);
  DB* db = db_.get();
  int rc = db->put(db, nullptr, &k, &v, 0);
  if (rc != 0) return temporary_error(temp_path_ + ": write error: " + db_error_text(rc));
  return {};
}

Result<bool> DbBuilder::contains(std::string_view key) const {
  DBT k = make_dbt(key);
  DBT v;
  std::memset(&v, 0, sizeof v);
  DB* db = db_.get();
  int rc = db->get(db, nullptr, &k, &v, 0);
  if (rc == DB_NOTFOUND) return false;
  if (rc != 0) return temporary_error(temp_path_ + ": read error: " + db_error_text(rc));
  return true;
}

Result<void> DbBuilder::commit() {
  if (int rc = db_.close(); rc != 0)
    return temporary_error(temp_path_ + ": cannot write: " + db_error_text(rc));
  {
    UniqueFd fd(::open(temp_path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0)
      return temporary_error(temp_path_ + ": fsync: " + errno_text(errno));
  }
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0)
    return temporary_error("cannot rename " + temp_path_ + " to " + final_path_ + ": " + errno_text(errno));
  committed_ = true;
  return fsync_parent_dir(final_path_);
}

}  // namespace lib
