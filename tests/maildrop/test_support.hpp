// tests/maildrop/test_support.hpp: a temporary folder and a spooled message
// for the maildrop unit tests.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "lib/maildir.hpp"
#include "maildrop/message.hpp"

namespace maildrop::test {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/maildrop_test.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string str(const std::string& rel = "") const { return rel.empty() ? path.string() : (path / rel).string(); }
};

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline Message spool_text(const TempDir& dir, const std::string& text, const std::string& rp = "",
                          const std::vector<std::string>& added = {}) {
  std::string in = dir.str("input.eml");
  write_file(in, text);
  int fd = ::open(in.c_str(), O_RDONLY);
  auto m = Message::spool(fd, rp, added, {dir.str()}, !rp.empty());
  ::close(fd);
  if (!m) std::abort();
  return std::move(*m);
}

// The contents of the only message in maildir/new (empty if none or several).
inline std::string only_message(const std::string& maildir) {
  std::string found;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(maildir + "/new")) {
    found = read_file(e.path().string());
    ++n;
  }
  return n == 1 ? found : std::string();
}

inline int count_messages(const std::string& maildir) {
  int n = 0;
  for (const char* sub : {"/new", "/cur"})
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(maildir + sub)) ++n;
  return n;
}

}  // namespace maildrop::test
