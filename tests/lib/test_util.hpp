// tests/lib/test_util.hpp: helpers shared by the unit tests.
#pragma once

#include <string>

namespace testutil {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the object goes out of scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes content to path (created or truncated); aborts the test on failure.
void write_file(const std::string& path, const std::string& content);
// The whole content of path; empty if it cannot be read.
std::string read_file(const std::string& path);

}  // namespace testutil
