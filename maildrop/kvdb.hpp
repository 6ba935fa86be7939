// maildrop/kvdb.hpp: a read-write Berkeley DB hash file for the filter's
// gdbmopen/gdbmfetch/gdbmstore functions and for duplicate suppression
// (Message-ID -> time seen). Read-only databases go through lib::DbFile.
#pragma once

#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "lib/dbfile.hpp"
#include "lib/result.hpp"

namespace maildrop {

class KeyValueDb {
 public:
  // mode: "R" read-only, "W" read-write, "C" read-write, created if missing,
  // "N" a new empty database.
  static lib::Result<KeyValueDb> open(const std::string& path, std::string_view mode);
  lib::Result<std::optional<std::string>> fetch(std::string_view key) const;
  lib::Result<void> store(std::string_view key, std::string_view value);
  lib::Result<void> remove(std::string_view key);
  lib::Result<void> sync();
  lib::Result<void> for_each(const std::function<void(std::string_view, std::string_view)>& fn) const;
  const std::string& path() const { return path_; }

 private:
  KeyValueDb(std::string path, lib::DbHandle db) : path_(std::move(path)), db_(std::move(db)) {}
  std::string path_;
  lib::DbHandle db_;
};

// Duplicate suppression: true if message_id was recorded in db_path less than
// expire_s ago; otherwise records it now. Entries older than expire_s are
// pruned now and then (one record in 50 deliveries triggers a sweep).
lib::Result<bool> seen_before(const std::string& db_path, std::string_view message_id, std::time_t expire_s,
                              std::time_t now = std::time(nullptr));

}  // namespace maildrop
