// imapd/objectid.cpp: MAILBOXID and EMAILID (see objectid.hpp).
#include "imapd/objectid.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "imapd/folder_lock.hpp"
#include "lib/atomic_file.hpp"
#include "lib/config.hpp"

namespace imapd {
namespace {

std::string hex(const unsigned char* p, std::size_t n) {
  std::string out;
  char b[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    out += b;
  }
  return out;
}

lib::Result<std::string> read_id(const std::string& path, bool& missing) {
  int open_errno = 0;
  auto text = lib::read_small_file(path, 1024, &open_errno);
  missing = !text && open_errno == ENOENT;
  if (!text) return text.error();
  std::string id = *text;
  while (!id.empty() && (id.back() == '\n' || id.back() == '\r')) id.pop_back();
  if (!valid_object_id(id))
    return lib::permanent_error(path + " does not hold a MAILBOXID (1-255 letters, digits, '_', '-'); remove it "
                                "and a new id is made (clients then resynchronise the folder)");
  return id;
}

}  // namespace

bool valid_object_id(std::string_view id) {
  if (id.empty() || id.size() > 255) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

lib::Result<std::string> mailbox_id(const std::string& folder_dir) {
  const std::string path = folder_dir + "/" + std::string(mailboxid_file_name);
  bool missing = false;
  auto id = read_id(path, missing);
  if (id || !missing) return id;
  FolderLock lock(folder_dir);
  if (!lock.ok())
    return lib::temporary_error("MAILBOXID: cannot open " + folder_dir + ": " + lib::errno_text(errno));
  id = read_id(path, missing);  // another session may have made it meanwhile
  if (id || !missing) return id;
  // getrandom(2), not OpenSSL: an id needs no cryptographic library set up
  // in every SELECT of a session that otherwise never uses it.
  unsigned char raw[12];
  if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw))
    return lib::temporary_error("MAILBOXID: getrandom: " + lib::errno_text(errno));
  std::string made = "M" + hex(raw, sizeof raw);
  lib::AtomicFileOptions opts;
  opts.mode = 0600;
  auto w = lib::write_file_atomically(path, made + "\n", opts);
  if (!w) return w.error();
  return made;
}

std::optional<std::time_t> save_date(std::string_view base) {
  std::time_t t = 0;
  std::size_t i = 0;
  for (; i < base.size() && i < 12 && base[i] >= '0' && base[i] <= '9'; ++i) t = t * 10 + (base[i] - '0');
  if (i < 9 || i == 12 || i >= base.size() || base[i] != '.') return std::nullopt;  // 1973-5138
  return t;
}

std::string email_id(std::string_view base) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : base) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  unsigned char raw[8];
  for (int i = 0; i < 8; ++i) raw[i] = static_cast<unsigned char>(h >> (56 - 8 * i));
  return "E" + hex(raw, sizeof raw);
}

}  // namespace imapd
