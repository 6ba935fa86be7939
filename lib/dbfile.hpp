// lib/dbfile.hpp: Berkeley DB ".dat" files (userdb.dat, smtpaccess.dat,
// aliases.dat, ...), hash databases of string keys and values as Courier's
// makedat writes them.
//
// Readers open read-only and never see half a database: writers build a new
// file beside the old one and rename it into place (DbBuilder). A long-running
// reader calls reopen_if_replaced() to pick up a rebuilt file without a restart.
#pragma once

#include <db.h>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>

#include "lib/atomic_file.hpp"
#include "lib/result.hpp"

namespace lib {

// Owns a DB handle. DB->close must be called even after a failed open, which a
// plain deleter cannot express with a status, hence a small class.
class DbHandle {
 public:
  DbHandle() = default;
  explicit DbHandle(DB* db) noexcept : db_(db) {}
  DbHandle(DbHandle&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  DbHandle& operator=(DbHandle&& o) noexcept {
    if (this != &o) {
      close();
      db_ = std::exchange(o.db_, nullptr);
    }
    return *this;
  }
  ~DbHandle() { close(); }
  DB* get() const noexcept { return db_; }
  // Returns DB->close's status (0 on success, or when there is nothing to close).
  int close() noexcept;

 private:
  DB* db_ = nullptr;
};

class DbFile {
 public:
  // Opens path read-only. A file being replaced (missing for an instant, or
  // caught mid-copy by an admin's cp) is retried a few times before failing.
  // A file that is not a Berkeley DB hash file fails permanently, with the
  // path and the fix ("rebuild it with <rebuild_hint>").
  static Result<DbFile> open_read(const std::string& path, std::string_view rebuild_hint = "the make* tool that built it");

  // The value stored under key; nullopt when there is none. A read error
  // (corrupt page, I/O error) is a temporary error naming the file.
  Result<std::optional<std::string>> lookup(std::string_view key) const;

  // Calls fn(key, value) for every record until it returns false.
  Result<void> for_each(const std::function<bool(std::string_view, std::string_view)>& fn) const;

  // When the file at path() is no longer the one open (a make* tool renamed a
  // new one into place), opens the new one. Returns whether it reopened.
  Result<bool> reopen_if_replaced();

  const std::string& path() const noexcept { return path_; }

 private:
  DbFile(std::string path, std::string hint, DbHandle db, ino_t ino, dev_t dev)
      : path_(std::move(path)), hint_(std::move(hint)), db_(std::move(db)), ino_(ino), dev_(dev) {}

  std::string path_;
  std::string hint_;
  DbHandle db_;
  ino_t ino_ = 0;
  dev_t dev_ = 0;
};

// Builds a new database in a temporary file beside the final path; commit()
// syncs it and renames it into place. Without commit(), the destructor removes
// the temporary file and the old database stays as it was.
class DbBuilder {
 public:
  static Result<DbBuilder> create(const std::string& final_path, mode_t mode = 0644);

  DbBuilder(DbBuilder&&) noexcept = default;
  DbBuilder& operator=(DbBuilder&&) noexcept = default;
  ~DbBuilder();

  // Stores key -> value, replacing an earlier value for the same key.
  Result<void> put(std::string_view key, std::string_view value);
  // Whether key was already put.
  Result<bool> contains(std::string_view key) const;
  // Flushes, fsyncs the file, renames it over the final path and fsyncs the directory.
  Result<void> commit();

  const std::string& temp_path() const noexcept { return temp_path_; }

 private:
  DbBuilder(std::string final_path, std::string temp_path, DbHandle db)
      : final_path_(std::move(final_path)), temp_path_(std::move(temp_path)), db_(std::move(db)) {}

  std::string final_path_;
  std::string temp_path_;
  DbHandle db_;
  bool committed_ = false;
};

// fsync()s the directory holding path, so a rename into it is durable
// (lib::fsync_directory of lib/atomic_file.hpp).
inline Result<void> fsync_parent_dir(const std::string& path) {
  return fsync_directory(parent_directory(path));
}

}  // namespace lib
