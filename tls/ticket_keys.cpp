// tls/ticket_keys.cpp: see ticket_keys.hpp.
#include "tls/ticket_keys.hpp"

#include <cerrno>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/unique_fd.hpp"

namespace tls {

namespace {

constexpr size_t max_key_file_bytes = 4096;

std::string hex(const unsigned char* data, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 15]);
  }
  return out;
}

bool unhex(std::string_view text, unsigned char* out, size_t size) {
  if (text.size() != size * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < size; ++i) {
    int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return true;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

lib::Result<TicketKey> new_key(time_t now) {
  TicketKey key;
  key.created = now;
  if (RAND_bytes(key.name.data(), key.name.size()) != 1 ||
      RAND_bytes(key.aes_key.data(), key.aes_key.size()) != 1 ||
      RAND_bytes(key.hmac_key.data(), key.hmac_key.size()) != 1) {
    return lib::temporary_error("the random number generator failed");
  }
  return key;
}

lib::Result<std::string> read_all(int fd) {
  std::string text;
  char buf[1024];
  if (lseek(fd, 0, SEEK_SET) < 0) return lib::temporary_error(lib::errno_text(errno));
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error(lib::errno_text(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_key_file_bytes) return std::string("(too large)");
  }
  return text;
}

bool fresh(const std::vector<TicketKey>& keys, time_t now) {
  return !keys.empty() && keys[0].created <= now && now - keys[0].created < ticket_key_rotation_s;
}

}  // namespace

lib::Result<std::vector<TicketKey>> parse_ticket_keys(std::string_view text) {
  std::vector<TicketKey> keys;
  int line_no = 0;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_no;
    if (line.empty()) continue;
    auto w = words(line);
    TicketKey key;
    long long created = 0;
    bool ok = w.size() == 5 && w[0] == "v1";
    if (ok) {
      for (char c : w[1]) ok = ok && c >= '0' && c <= '9';
      ok = ok && !w[1].empty() && w[1].size() <= 12;
      if (ok) created = std::stoll(std::string(w[1]));
    }
    ok = ok && unhex(w[2], key.name.data(), key.name.size()) &&
         unhex(w[3], key.aes_key.data(), key.aes_key.size()) &&
         unhex(w[4], key.hmac_key.data(), key.hmac_key.size());
    if (!ok) return lib::permanent_error("line " + std::to_string(line_no) + " is not a ticket key");
    key.created = static_cast<time_t>(created);
    if (keys.size() < 2) keys.push_back(key);
  }
  return keys;
}

std::string format_ticket_keys(const std::vector<TicketKey>& keys) {
  std::string out;
  for (const auto& key : keys) {
    out += "v1 " + std::to_string(static_cast<long long>(key.created)) + " " +
           hex(key.name.data(), key.name.size()) + " " + hex(key.aes_key.data(), key.aes_key.size()) +
           " " + hex(key.hmac_key.data(), key.hmac_key.size()) + "\n";
  }
  return out;
}

lib::Result<std::vector<TicketKey>> load_ticket_keys(const std::string& path, time_t now) {
  std::string what = "TLS_CACHEFILE=" + path;
  lib::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    int err = errno;
    return lib::permanent_error(what + ": cannot open or create it (" + lib::errno_text(err) +
                                "); sessions will not resume. Make its folder exist and be writable by "
                                "uid " + std::to_string(geteuid()) + ", or remove TLS_CACHEFILE");
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 077) != 0) {
    return lib::permanent_error(what + ": must be a regular file owned by uid " + std::to_string(geteuid()) +
                                " with mode 600 (whoever can change it can forge sessions); it is not "
                                "used: fix with chown/chmod 600, or remove it to let it be made again");
  }
  if (flock(fd.get(), LOCK_SH) != 0) return lib::temporary_error(what + ": flock: " + lib::errno_text(errno));
  auto text = read_all(fd.get());
  if (!text) return lib::temporary_error(what + ": " + text.error().message);
  auto keys = parse_ticket_keys(*text);
  if (keys && fresh(*keys, now)) return keys;

  // Stale, empty or unreadable (e.g. a Courier session cache left at that path):
  // take the lock for writing and check again, another process may have won.
  if (flock(fd.get(), LOCK_EX) != 0) return lib::temporary_error(what + ": flock: " + lib::errno_text(errno));
  text = read_all(fd.get());
  if (!text) return lib::temporary_error(what + ": " + text.error().message);
  keys = parse_ticket_keys(*text);
  if (keys && fresh(*keys, now)) return keys;
  std::vector<TicketKey> updated;
  auto key = new_key(now);
  if (!key) return key.error();
  updated.push_back(*key);
  if (keys && !keys->empty()) updated.push_back((*keys)[0]);
  std::string out = format_ticket_keys(updated);
  if (ftruncate(fd.get(), 0) != 0 || pwrite(fd.get(), out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) {
    return lib::temporary_error(what + ": cannot write it (" + lib::errno_text(errno) + ")");
  }
  OPENSSL_cleanse(out.data(), out.size());
  return updated;
}

}  // namespace tls
