// lib/maildir.cpp: see maildir.hpp. Maildir (cr.yp.to/proto/maildir.html) and
// Courier's Maildir++ layout (COURIER-COMPAT.md section 12).
//
// Crash safety of a delivery (the only state this file creates):
//   state                         visible to readers   after a crash
//   tmp/T written, fsynced        no                   T removed by purge_tmp after 36 h
//   link tmp/T -> new/N           yes (N complete)     N kept; T removed by purge_tmp
//   fsync(new/)                   yes, durable         -
//   unlink tmp/T                  yes                  -
// The message is reported delivered only after fsync(new/), so an acknowledged
// message survives a crash; a crash before that at worst leaves an unacknowledged
// copy, which the sender retries (a duplicate, never a loss).
#include "lib/maildir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <compare>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>

#include "lib/c_handle.hpp"
#include "lib/unique_fd.hpp"
#include "lib/utf8.hpp"

namespace lib::maildir {

namespace {

// Subdirectory nesting that remove_tree follows. A folder is three levels deep
// at most (folder/courierimapkeywords/file); anything deeper is not ours.
constexpr int max_remove_depth = 16;
// Attempts at a fresh tmp name when one is taken (same pid and microsecond).
constexpr int max_name_attempts = 100;
// Rounds of "renamed under us, look it up again" in change_flags.
constexpr int max_flag_rounds = 10;
// Copy buffer for deliveries from a descriptor.
constexpr std::size_t copy_buffer_bytes = 64 * 1024;
// Escaped host name length kept in file names, so names stay under NAME_MAX.
constexpr std::size_t max_host_bytes = 100;

std::atomic<unsigned> g_name_counter{0};

// "<what> <path>: <errno text>[; <fix>]"
std::string sys_message(std::string_view what, const std::string& path, int err,
                        std::string_view fix = {}) {
  std::string m;
  m.append(what).append(" ").append(path).append(": ").append(errno_text(err));
  if (!fix.empty()) m.append("; ").append(fix);
  return m;
}

// Advice for the usual reasons a maildir write fails.
std::string_view fix_for(int err) {
  switch (err) {
    case ENOSPC:
      return "free space on the file system holding the maildir";
    case EDQUOT:
      return "the account's file system quota is exhausted; raise it or remove mail";
    case EACCES:
    case EPERM:
      return "check the owner and permissions of the maildir";
    case EROFS:
      return "the file system is mounted read-only";
    case ENOENT:
      return "check that the maildir exists (create it with maildirmake)";
    case EFBIG:
      return "the file size limit (ulimit -f) is too small";
    default:
      return {};
  }
}

Error temp_sys(std::string_view what, const std::string& path, int err) {
  return temporary_error(sys_message(what, path, err, fix_for(err)));
}

// Folder names in messages: printable, control bytes as \xNN.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}


// Reads all names of the directory open at fd except "." and "..", with
// getdents64(2) on that descriptor: no second open and no fstat, as
// opendir(3) and fdopendir(3) would make. Errors name the path.
Result<std::vector<std::pair<std::string, unsigned char>>> read_dir_fd(int fd, const std::string& path) {
  std::vector<std::pair<std::string, unsigned char>> names;
  // On the heap and freed after the read, as opendir(3)'s buffer is: a
  // static or thread_local one would stay dirty in every idle session.
  constexpr std::size_t buf_size = 32768;
  std::unique_ptr<char[]> buf(new char[buf_size]);
  for (;;) {
    ssize_t n = ::getdents64(fd, buf.get(), buf_size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return temp_sys("cannot read directory", path, errno);
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* de = reinterpret_cast<const struct dirent64*>(buf.get() + off);
      off += de->d_reclen;
      if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
      names.emplace_back(de->d_name, de->d_type);
    }
  }
  return names;
}

// Reads all names of a directory except "." and "..". Errors name the path.
Result<std::vector<std::pair<std::string, unsigned char>>> read_dir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return temp_sys("cannot open directory", path, errno);
  return read_dir_fd(fd.get(), path);
}

bool is_directory(const std::string& path, bool follow) {
  struct stat st;
  int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  return rc == 0 && S_ISDIR(st.st_mode);
}

// rename() that refuses to replace an existing target where the file system
// supports it; elsewhere (EINVAL: some network file systems) a plain rename.
int rename_noreplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  return ::rename(from.c_str(), to.c_str());
}

std::string hex16(std::uint64_t v) {
  // Courier's libmail_strh_dev_t/ino_t: fixed width, upper-case hex.
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = digits[v & 15];
    v >>= 4;
  }
  return s;
}

std::optional<std::uint64_t> parse_field(std::string_view base, std::string_view tag) {
  std::size_t at = base.rfind(tag);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view digits = base.substr(at + tag.size());
  std::size_t n = 0;
  while (n < digits.size() && digits[n] >= '0' && digits[n] <= '9') ++n;
  if (n == 0) return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + n, v);
  if (ec != std::errc() || ptr != digits.data() + n) return std::nullopt;  // overflow
  return v;
}

// Removes directory `name` in `parent_fd` and everything below it, never
// following symlinks. `path` is for messages only.
Result<void> remove_tree(int parent_fd, const std::string& name, const std::string& path,
                         int depth) {
  if (depth > max_remove_depth)
    return permanent_error("cannot remove " + path + ": directories nested deeper than " +
                           std::to_string(max_remove_depth) + " levels; remove it by hand");
  int fd = ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    return temp_sys("cannot open directory", path, errno);
  }
  UniqueFd dir_fd(fd);
  int list_fd = ::dup(dir_fd.get());
  if (list_fd < 0) return temp_sys("cannot duplicate descriptor of", path, errno);
  DirStream dir(::fdopendir(list_fd));
  if (!dir) {
    int err = errno;
    ::close(list_fd);
    return temp_sys("cannot read directory", path, err);
  }
  std::vector<std::pair<std::string, bool>> entries;
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(dir.get());
    if (!de) {
      if (errno != 0) return temp_sys("cannot read directory", path, errno);
      break;
    }
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    bool sub = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      sub =
          ::fstatat(dir_fd.get(), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    entries.emplace_back(de->d_name, sub);
  }
  for (const auto& [entry, sub] : entries) {
    std::string entry_path = path + "/" + entry;
    if (sub) {
      auto r = remove_tree(dir_fd.get(), entry, entry_path, depth + 1);
      if (!r) return r;
    } else if (::unlinkat(dir_fd.get(), entry.c_str(), 0) != 0 && errno != ENOENT) {
      return temp_sys("cannot remove", entry_path, errno);
    }
  }
  if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return temp_sys("cannot remove directory", path, errno);
  return {};
}

// mkdir + chmod (so the umask does not narrow the mode asked for). Returns
// true if made, false if a directory was already there.
Result<bool> make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0) {
    if (::chmod(path.c_str(), mode) != 0) return temp_sys("cannot set the mode of", path, errno);
    return true;
  }
  int err = errno;
  if (err == EEXIST) {
    if (is_directory(path, true)) return false;
    return permanent_error(path + " exists and is not a directory; move it out of the way");
  }
  return temp_sys("cannot create directory", path, err);
}

// A name for a scratch entry in tmp/, unique across hosts, processes, threads.
std::string scratch_name(std::string_view tag) {
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  return std::to_string(tv.tv_sec) + ".M" + std::to_string(tv.tv_usec) + "P" +
         std::to_string(::getpid()) + "_" + std::to_string(++g_name_counter) + "_" +
         std::string(tag) + "." + maildir_host_name();
}

Result<void> write_all(int fd, const char* data, std::size_t len, const std::string& path) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return temp_sys("cannot write", path, errno);
    }
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  return {};
}

bool ascii_letter(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

}  // namespace

// The only code that builds PendingMessage objects.
struct PendingMessageMaker {
  template <class Writer>
  static Result<PendingMessage> make(const std::string& maildir, const DeliveryOptions& options,
                                     std::optional<std::uint64_t> known_size, Writer&& writer);
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

std::string escape_host_name(std::string_view host) {
  std::string out;
  for (char c : host) {
    std::string_view piece = c == '/' ? "\\057" : c == ':' ? "\\072" : std::string_view(&c, 1);
    if (out.size() + piece.size() > max_host_bytes) break;
    out.append(piece);
  }
  return out.empty() ? std::string("localhost") : out;
}

std::string maildir_host_name() {
  char buf[256];
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  buf[sizeof buf - 1] = '\0';
  return escape_host_name(buf);
}

std::string_view location_dir(Location location) {
  return location == Location::cur_dir ? "cur" : "new";
}

// ---------------------------------------------------------------------------
// Maildirs and folders
// ---------------------------------------------------------------------------

Result<void> create_maildir(const std::string& path, mode_t mode) {
  if (path.empty()) return permanent_error("cannot create a maildir with an empty path");
  auto top = make_dir(path, mode);
  if (!top) return top.error();
  // tmp/ last: its presence tells Courier's tools the maildir is complete.
  for (const char* sub : {"cur", "new", "tmp"}) {
    auto r = make_dir(path + "/" + sub, mode);
    if (!r) return r.error();
  }
  return {};
}

Result<void> validate_folder_name(std::string_view name) {
  auto refuse = [&](std::string_view why) {
    return permanent_error("invalid folder name \"" + printable(name.substr(0, 300)) +
                           "\": " + std::string(why));
  };
  if (name.empty()) return refuse("it is empty");
  if (name.size() > max_folder_name_bytes)
    return refuse("longer than " + std::to_string(max_folder_name_bytes) + " bytes");
  if (name.front() == '.') return refuse("it starts with '.'");
  if (name.back() == '.') return refuse("it ends with '.' (empty hierarchy level)");
  if (name.find("..") != std::string_view::npos)
    return refuse("it contains \"..\" (empty hierarchy level)");
  for (std::size_t i = 0; i < name.size();) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c == '/') return refuse("it contains '/'");
    if (c < 0x20 || c == 0x7f) return refuse("it contains a control character");
    if (c < 0x80) {
      ++i;
      continue;
    }
    const utf8::Decoded d = utf8::decode(name, i);
    if (!d.valid()) {
      const std::size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      if (c >= 0xC2 && c <= 0xF4 && i + len > name.size())
        return refuse("it is not valid UTF-8 (truncated sequence)");
      return refuse("it is not valid UTF-8");
    }
    i += d.length;
  }
  return {};
}

std::string folder_path(const std::string& root, std::string_view name) {
  if (name.empty()) return root;
  std::string p = root;
  p.append("/.").append(name);
  return p;
}

Result<bool> create_folder(const std::string& root, std::string_view name, mode_t mode) {
  if (auto v = validate_folder_name(name); !v) return v.error();
  std::string final_path = folder_path(root, name);
  struct stat st;
  if (::lstat(final_path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode) || (S_ISLNK(st.st_mode) && is_directory(final_path, true)))
      return false;
    return permanent_error(final_path + " exists and is not a directory; move it out of the way");
  }
  std::string tmp_dir = root + "/tmp";
  if (!is_directory(tmp_dir, true))
    return temporary_error("cannot create folder \"" + printable(name) + "\": " + root +
                           " is not a maildir (no tmp/ directory); create it with maildirmake");

  // Build the folder in tmp/, then rename it into place in one step.
  std::string build = tmp_dir + "/" + scratch_name("NeWfOlDeR");
  auto made = make_dir(build, mode);
  if (!made) return made.error();
  auto cleanup = [&] {
    UniqueFd tmp_fd(::open(tmp_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (tmp_fd) (void)remove_tree(tmp_fd.get(), build.substr(tmp_dir.size() + 1), build, 0);
  };
  for (const char* sub : {"cur", "new", "tmp"}) {
    auto r = make_dir(build + "/" + sub, mode);
    if (!r) {
      cleanup();
      return r.error();
    }
  }
  std::string marker = build + "/maildirfolder";
  mode_t file_mode = mode & 0666;
  int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, file_mode);
  if (fd < 0) {
    int err = errno;
    cleanup();
    return temp_sys("cannot create", marker, err);
  }
  bool mode_ok = ::fchmod(fd, file_mode) == 0;
  int mode_err = errno;
  ::close(fd);
  if (!mode_ok) {
    cleanup();
    return temp_sys("cannot set the mode of", marker, mode_err);
  }
  // rename() would replace an empty directory; NOREPLACE makes a concurrent
  // creator lose cleanly (EEXIST) instead.
  if (rename_noreplace(build, final_path) != 0) {
    int err = errno;
    cleanup();
    if (err == EEXIST || err == ENOTEMPTY) return false;
    return temp_sys("cannot rename " + build + " to", final_path, err);
  }
  if (auto r = fsync_dir(root); !r) return r.error();
  return true;
}

Result<std::vector<FolderEntry>> list_folders(const std::string& root) {
  auto names = read_dir(root);
  if (!names) return names.error();
  std::map<std::string, FolderEntry> folders;
  for (const auto& [entry, type] : *names) {
    if (entry.size() < 2 || entry[0] != '.') continue;
    std::string name = entry.substr(1);
    if (!validate_folder_name(name)) continue;
    bool dir = type == DT_DIR;
    if (type == DT_LNK || type == DT_UNKNOWN) dir = is_directory(root + "/" + entry, true);
    if (!dir) continue;
    folders[name] = FolderEntry{name, true, false};
  }
  // Hierarchy levels that exist only as parents of other folders.
  std::vector<std::string> existing;
  for (const auto& [name, e] : folders) existing.push_back(name);
  for (const auto& name : existing) {
    for (std::size_t dot = name.find('.'); dot != std::string::npos;
         dot = name.find('.', dot + 1)) {
      std::string parent = name.substr(0, dot);
      auto it = folders.find(parent);
      if (it == folders.end()) folders[parent] = FolderEntry{parent, false, true};
    }
  }
  for (auto& [name, e] : folders) {
    std::size_t dot = name.rfind('.');
    if (dot != std::string::npos) folders[name.substr(0, dot)].has_children = true;
  }
  std::vector<FolderEntry> out;
  out.reserve(folders.size());
  for (auto& [name, e] : folders) out.push_back(std::move(e));
  return out;
}

Result<void> delete_folder(const std::string& root, std::string_view name, bool with_children) {
  if (name.empty())
    return permanent_error("refusing to delete the INBOX (the maildir root " + root + ")");
  if (auto v = validate_folder_name(name); !v) return v.error();
  std::string self = "." + std::string(name);
  // A folder is a directory, or a symlink to one (a shared folder): the
  // symlink is removed, what it points to is not ours to delete.
  auto is_folder = [&](const std::string& entry) { return is_directory(root + "/" + entry, true); };
  std::vector<std::string> targets;
  if (is_folder(self)) targets.push_back(self);
  if (with_children) {
    auto names = read_dir(root);
    if (!names) return names.error();
    std::string prefix = self + ".";
    for (const auto& [entry, type] : *names)
      if (entry.compare(0, prefix.size(), prefix) == 0 && is_folder(entry))
        targets.push_back(entry);
  }
  if (targets.empty())
    return permanent_error("cannot delete folder \"" + printable(name) + "\": no such folder in " +
                           root);
  std::string tmp_dir = root + "/tmp";
  int fd = ::open(tmp_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return temp_sys("cannot open directory", tmp_dir, errno);
  UniqueFd tmp_fd(fd);
  for (const auto& entry : targets) {
    std::string from = root + "/" + entry;
    struct stat st;
    if (::lstat(from.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      if (::unlink(from.c_str()) != 0 && errno != ENOENT)
        return temp_sys("cannot remove", from, errno);
      continue;
    }
    // Renamed first so readers see the folder vanish at once, whatever the
    // size of the removal that follows.
    std::string scratch = scratch_name("DeLeTeD");
    std::string to = tmp_dir + "/" + scratch;
    if (::rename(from.c_str(), to.c_str()) != 0) {
      int err = errno;
      if (err == ENOENT) continue;  // deleted by someone else meanwhile
      return temp_sys("cannot rename " + from + " to", to, err);
    }
    auto r = remove_tree(tmp_fd.get(), scratch, to, 0);
    if (!r) return r;
  }
  return fsync_dir(root);
}

Result<void> rename_folder(const std::string& root, std::string_view from, std::string_view to) {
  if (from.empty() || to.empty())
    return permanent_error("renaming the INBOX (the maildir root " + root +
                           ") is not a folder rename");
  if (auto v = validate_folder_name(from); !v) return v.error();
  if (auto v = validate_folder_name(to); !v) return v.error();
  if (to == from ||
      (to.size() > from.size() && to.substr(0, from.size()) == from && to[from.size()] == '.'))
    return permanent_error("cannot rename folder \"" + printable(from) + "\" to \"" +
                           printable(to) + "\": the target is the folder itself or inside it");
  auto names = read_dir(root);
  if (!names) return names.error();
  std::string old_self = "." + std::string(from);
  std::string new_self = "." + std::string(to);
  std::vector<std::pair<std::string, std::string>> moves;  // old path, new path
  for (const auto& [entry, type] : *names) {
    std::string target;
    if (entry == old_self) {
      target = new_self;
    } else if (entry.size() > old_self.size() + 1 &&
               entry.compare(0, old_self.size(), old_self) == 0 && entry[old_self.size()] == '.') {
      target = new_self + entry.substr(old_self.size());
      if (!validate_folder_name(std::string_view(target).substr(1)))
        return permanent_error("cannot rename folder \"" + printable(from) + "\": the child " +
                               printable(entry) + " would get an invalid name");
    } else {
      continue;
    }
    if (!is_directory(root + "/" + entry, true)) continue;
    moves.emplace_back(root + "/" + entry, root + "/" + target);
  }
  if (moves.empty())
    return permanent_error("cannot rename folder \"" + printable(from) + "\": no such folder in " +
                           root);
  for (const auto& [o, n] : moves) {
    struct stat st;
    if (::lstat(n.c_str(), &st) == 0)
      return permanent_error("cannot rename folder \"" + printable(from) + "\" to \"" +
                             printable(to) + "\": " + n + " already exists");
  }
  std::sort(moves.begin(), moves.end());
  for (std::size_t i = 0; i < moves.size(); ++i) {
    if (rename_noreplace(moves[i].first, moves[i].second) != 0) {
      int err = errno;
      // Undo what was done, so the hierarchy is not left half renamed.
      for (std::size_t k = i; k-- > 0;)
        (void)::rename(moves[k].second.c_str(), moves[k].first.c_str());
      if (err == EEXIST || err == ENOTEMPTY)
        return permanent_error("cannot rename folder \"" + printable(from) + "\" to \"" +
                               printable(to) + "\": " + moves[i].second + " already exists");
      return temp_sys("cannot rename " + moves[i].first + " to", moves[i].second, err);
    }
  }
  return fsync_dir(root);
}

// ---------------------------------------------------------------------------
// Message names
// ---------------------------------------------------------------------------

std::optional<MessageName> parse_message_name(std::string_view file_name) {
  if (file_name.empty() || file_name.size() > max_file_name_bytes || file_name.front() == '.' ||
      file_name.find('/') != std::string_view::npos ||
      file_name.find('\0') != std::string_view::npos)
    return std::nullopt;
  MessageName m;
  std::size_t colon = file_name.find(':');
  std::string_view base = file_name.substr(0, colon);
  if (base.empty()) return std::nullopt;
  m.base = std::string(base);
  if (colon != std::string_view::npos) {
    std::string_view info = file_name.substr(colon + 1);
    if (info.size() >= 2 && info[0] == '2' && info[1] == ',') {
      m.has_flags_info = true;
      m.flags = normalize_flags(info.substr(2));
    } else {
      m.other_info = std::string(info);
    }
  }
  m.size_bytes = parse_field(base, ",S=");
  m.virtual_size_bytes = parse_field(base, ",W=");
  return m;
}

std::string normalize_flags(std::string_view flags) {
  std::array<bool, 128> seen{};
  for (unsigned char c : flags)
    if (ascii_letter(c)) seen[c] = true;
  std::string out;
  for (std::size_t c = 0; c < seen.size(); ++c)
    if (seen[c]) out += static_cast<char>(c);
  return out;
}

std::string make_cur_name(std::string_view base, std::string_view flags) {
  std::string name(base);
  name += ":2,";
  name += normalize_flags(flags);
  return name;
}

bool has_flag(std::string_view flags, char c) { return flags.find(c) != std::string_view::npos; }

// ---------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------

PendingMessage::PendingMessage(PendingMessage&& other) noexcept
    : maildir_(std::move(other.maildir_)),
      tmp_path_(std::move(other.tmp_path_)),
      final_stem_(std::move(other.final_stem_)),
      flags_(std::move(other.flags_)),
      location_(other.location_),
      size_bytes_(other.size_bytes_),
      done_(std::exchange(other.done_, true)) {}

PendingMessage& PendingMessage::operator=(PendingMessage&& other) noexcept {
  if (this != &other) {
    discard();
    maildir_ = std::move(other.maildir_);
    tmp_path_ = std::move(other.tmp_path_);
    final_stem_ = std::move(other.final_stem_);
    flags_ = std::move(other.flags_);
    location_ = other.location_;
    size_bytes_ = other.size_bytes_;
    done_ = std::exchange(other.done_, true);
  }
  return *this;
}

PendingMessage::~PendingMessage() { discard(); }

void PendingMessage::discard() noexcept {
  if (!done_) ::unlink(tmp_path_.c_str());
  done_ = true;
}

Result<Delivered> PendingMessage::commit() {
  if (done_)
    return permanent_error("internal error: commit of a message already committed or discarded");
  Delivered d;
  d.location = location_;
  d.size_bytes = size_bytes_;
  d.base = final_stem_ + ",S=" + std::to_string(size_bytes_);
  d.file_name = location_ == Location::cur_dir ? make_cur_name(d.base, flags_) : d.base;
  std::string dir = maildir_ + "/" + std::string(location_dir(location_));
  d.path = dir + "/" + d.file_name;

  // link() never replaces an existing name: a collision is an error, not a
  // silently overwritten message.
  bool linked = true;
  if (::link(tmp_path_.c_str(), d.path.c_str()) != 0) {
    int err = errno;
    if (err == EPERM || err == EXDEV || err == ENOSYS || err == EOPNOTSUPP || err == EMLINK) {
      // File systems without hard links (AFS, some FUSE): rename instead.
      linked = false;
      if (rename_noreplace(tmp_path_, d.path) != 0) {
        err = errno;
        discard();
        return temp_sys("cannot move " + tmp_path_ + " to", d.path, err);
      }
    } else {
      discard();
      return temp_sys("cannot link " + tmp_path_ + " to", d.path, err);
    }
  }
  if (auto r = fsync_dir(dir); !r) {
    // Not durable: take the message back so the sender retries.
    ::unlink(d.path.c_str());
    discard();
    return r.error();
  }
  if (linked) ::unlink(tmp_path_.c_str());  // a leftover is purged from tmp/ later
  done_ = true;
  return d;
}

template <class Writer>
Result<PendingMessage> PendingMessageMaker::make(const std::string& maildir,
                                                 const DeliveryOptions& options,
                                                 std::optional<std::uint64_t> known_size,
                                                 Writer&& writer) {
  if (known_size && options.max_message_bytes != 0 && *known_size > options.max_message_bytes)
    return permanent_error("message of " + std::to_string(*known_size) +
                           " bytes is larger than the limit of " +
                           std::to_string(options.max_message_bytes) + " bytes for " + maildir);
  std::string host = maildir_host_name();
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  std::string stamp = std::to_string(tv.tv_sec) + ".M" + std::to_string(tv.tv_usec) + "P" +
                      std::to_string(::getpid());
  std::string size_suffix = known_size ? ",S=" + std::to_string(*known_size) : std::string();

  std::string tmp_path;
  std::string uniq;
  int fd = -1;
  for (int attempt = 0; attempt < max_name_attempts; ++attempt) {
    // Same pid and microsecond (threads, a fast loop): add "_n", as Courier
    // adds its "_uniq" part.
    uniq = attempt == 0 ? std::string() : "_" + std::to_string(++g_name_counter);
    tmp_path = maildir + "/tmp/" + stamp + uniq + "." + host + size_suffix;
    fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                options.file_mode);
    if (fd >= 0 || errno != EEXIST) break;
  }
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST)
      return temporary_error("cannot find a free name in " + maildir + "/tmp after " +
                             std::to_string(max_name_attempts) +
                             " attempts; is tmp/ full of stale files?");
    return temp_sys("cannot create", tmp_path, err);
  }
  UniqueFd file(fd);
  PendingMessage pm;
  pm.maildir_ = maildir;
  pm.tmp_path_ = tmp_path;
  pm.location_ = options.location;
  pm.flags_ =
      options.location == Location::cur_dir ? normalize_flags(options.flags) : std::string();
  pm.done_ = false;  // from here on, pm's destructor removes the tmp file

  struct stat st;
  if (::fstat(fd, &st) != 0) return temp_sys("cannot stat", tmp_path, errno);
  pm.final_stem_ = stamp + "V" + hex16(static_cast<std::uint64_t>(st.st_dev)) + "I" +
                   hex16(static_cast<std::uint64_t>(st.st_ino)) + uniq + "." + host;

  auto written = writer(fd, tmp_path);
  if (!written) return written.error();
  pm.size_bytes_ = *written;

  if (options.mtime) {
    struct timespec times[2];
    times[0].tv_sec = *options.mtime;
    times[0].tv_nsec = 0;
    times[1] = times[0];
    if (::futimens(fd, times) != 0) return temp_sys("cannot set the time of", tmp_path, errno);
  }
  if (::fsync(fd) != 0) return temp_sys("cannot fsync", tmp_path, errno);
  // close() reports deferred write errors on network file systems.
  if (::close(file.release()) != 0) return temp_sys("cannot close", tmp_path, errno);
  return pm;
}

Result<PendingMessage> write_tmp_message(const std::string& maildir, std::string_view message,
                                         const DeliveryOptions& options) {
  return PendingMessageMaker::make(maildir, options, message.size(),
                                   [&](int fd, const std::string& path) -> Result<std::uint64_t> {
                                     auto r = write_all(fd, message.data(), message.size(), path);
                                     if (!r) return r.error();
                                     return static_cast<std::uint64_t>(message.size());
                                   });
}

Result<PendingMessage> write_tmp_message_from_fd(const std::string& maildir, int in_fd,
                                                 const DeliveryOptions& options) {
  return PendingMessageMaker::make(
      maildir, options, std::nullopt,
      [&](int fd, const std::string& path) -> Result<std::uint64_t> {
        std::vector<char> buf(copy_buffer_bytes);
        std::uint64_t total = 0;
        for (;;) {
          ssize_t n = ::read(in_fd, buf.data(), buf.size());
          if (n < 0) {
            int err = errno;
            if (err == EINTR) continue;
            return temporary_error(sys_message(
                "cannot read the message (descriptor " + std::to_string(in_fd) + ") for", path,
                err));
          }
          if (n == 0) break;
          total += static_cast<std::uint64_t>(n);
          if (options.max_message_bytes != 0 && total > options.max_message_bytes)
            return permanent_error("message larger than the limit of " +
                                   std::to_string(options.max_message_bytes) + " bytes for " +
                                   maildir);
          auto r = write_all(fd, buf.data(), static_cast<std::size_t>(n), path);
          if (!r) return r.error();
        }
        return total;
      });
}

Result<Delivered> deliver(const std::string& maildir, std::string_view message,
                          const DeliveryOptions& options) {
  auto pm = write_tmp_message(maildir, message, options);
  if (!pm) return pm.error();
  return pm->commit();
}

Result<Delivered> deliver_from_fd(const std::string& maildir, int fd,
                                  const DeliveryOptions& options) {
  auto pm = write_tmp_message_from_fd(maildir, fd, options);
  if (!pm) return pm.error();
  return pm->commit();
}

Result<std::size_t> purge_tmp(const std::string& maildir, std::time_t max_age_s, std::time_t now) {
  std::string tmp_dir = maildir + "/tmp";
  int fd = ::open(tmp_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return temp_sys("cannot open directory", tmp_dir, errno);
  UniqueFd dir_fd(fd);
  auto names = read_dir(tmp_dir);
  if (!names) return names.error();
  std::size_t removed = 0;
  std::optional<Error> first_error;
  for (const auto& [entry, type] : *names) {
    if (entry[0] == '.') continue;
    struct stat st;
    if (::fstatat(dir_fd.get(), entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    std::time_t changed = std::max(st.st_mtime, st.st_ctime);
    if (changed > now - max_age_s) continue;
    std::string path = tmp_dir + "/" + entry;
    if (S_ISDIR(st.st_mode)) {
      // Leftovers of an interrupted create_folder or delete_folder.
      auto r = remove_tree(dir_fd.get(), entry, path, 0);
      if (!r) {
        if (!first_error) first_error = r.error();
        continue;
      }
    } else if (::unlinkat(dir_fd.get(), entry.c_str(), 0) != 0) {
      if (errno == ENOENT) continue;
      if (!first_error) first_error = temp_sys("cannot remove stale file", path, errno);
      continue;
    }
    ++removed;
  }
  if (first_error) return *first_error;
  return removed;
}

// ---------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------

Result<std::optional<FoundMessage>> find_message(const std::string& maildir,
                                                 std::string_view base) {
  // The whole directory is read (to the getdents64 that says "end"): a
  // reader that stopped at the first batch holding the name lost every
  // round to concurrent renamers in MaildirFlags.ConcurrentFlagChanges*.
  for (Location loc : {Location::cur_dir, Location::new_dir}) {
    std::string dir = maildir + "/" + std::string(location_dir(loc));
    auto names = read_dir(dir);
    if (!names) return names.error();
    for (const auto& [entry, type] : *names) {
      if (entry.compare(0, base.size(), base) != 0) continue;
      if (entry.size() != base.size() && entry[base.size()] != ':') continue;
      return std::optional<FoundMessage>(FoundMessage{entry, loc});
    }
  }
  return std::optional<FoundMessage>();
}

namespace {

template <class Edit>
Result<std::optional<std::string>> edit_flags(const std::string& maildir,
                                              std::string_view file_name, Edit&& edit) {
  auto parsed = parse_message_name(file_name);
  if (!parsed)
    return permanent_error("\"" + printable(file_name.substr(0, 300)) +
                           "\" is not a message file name in " + maildir);
  const std::string base = parsed->base;
  std::vector<FoundMessage> candidates = {{std::string(file_name), Location::cur_dir},
                                          {std::string(file_name), Location::new_dir}};
  for (int round = 0; round < max_flag_rounds; ++round) {
    for (const auto& c : candidates) {
      auto current = parse_message_name(c.file_name);
      if (!current) continue;
      std::string target = make_cur_name(base, edit(current->flags));
      std::string src = maildir + "/" + std::string(location_dir(c.location)) + "/" + c.file_name;
      std::string dst = maildir + "/cur/" + target;
      if (src == dst) {
        if (::access(src.c_str(), F_OK) == 0) return std::optional<std::string>(target);
        if (errno == ENOENT) continue;
        return temp_sys("cannot check", src, errno);
      }
      if (rename_noreplace(src, dst) == 0) return std::optional<std::string>(target);
      int err = errno;
      if (err == ENOENT) continue;  // renamed or moved by someone else: look again
      if (err == EEXIST)
        return permanent_error(
            "cannot rename " + src + " to " + dst +
            ": the target exists, so the message is there twice; remove one copy");
      return temp_sys("cannot rename " + src + " to", dst, err);
    }
    auto found = find_message(maildir, base);
    if (!found) return found.error();
    if (!*found) return std::optional<std::string>();  // expunged by someone else
    candidates = {**found};
  }
  return temporary_error("cannot change the flags of " + maildir + "/cur/" + base +
                         ": it kept being renamed by other processes (" +
                         std::to_string(max_flag_rounds) + " attempts)");
}

}  // namespace

Result<std::optional<std::string>> change_flags(const std::string& maildir,
                                                std::string_view file_name, std::string_view add,
                                                std::string_view remove) {
  std::string removed = normalize_flags(remove);
  return edit_flags(maildir, file_name, [&](const std::string& current) {
    std::string out;
    for (char c : normalize_flags(current + std::string(add)))
      if (!has_flag(removed, c)) out += c;
    return out;
  });
}

Result<std::optional<std::string>> set_flags(const std::string& maildir, std::string_view file_name,
                                             std::string_view flags) {
  std::string wanted = normalize_flags(flags);
  return edit_flags(maildir, file_name, [&](const std::string&) { return wanted; });
}

Result<NewToCur> move_new_to_cur(const std::string& maildir) {
  std::string new_dir = maildir + "/new";
  auto names = read_dir(new_dir);
  if (!names) return names.error();
  NewToCur out;
  for (const auto& [entry, type] : *names) {
    if (entry[0] == '.') continue;
    auto parsed = parse_message_name(entry);
    if (!parsed) continue;
    // As maildir_getnew: keep ":2,flags", drop any other info, add ":2,".
    std::string target = parsed->has_flags_info ? entry : parsed->base + ":2,";
    std::string src = new_dir + "/" + entry;
    std::string dst = maildir + "/cur/" + target;
    if (rename_noreplace(src, dst) == 0) {
      out.moved.push_back(target);
      continue;
    }
    int err = errno;
    if (err == ENOENT) continue;  // another reader moved it first
    out.errors.push_back(sys_message("cannot rename " + src + " to", dst, err, fix_for(err)));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Scanning
// ---------------------------------------------------------------------------

namespace {

// The delivery time a Maildir name starts with, "<seconds>.M<microseconds>"
// as lib::maildir and Courier make them; names of another form sort after
// those that have one, and names equal in it by their bytes.
struct DeliveryTime {
  std::uint64_t seconds = UINT64_MAX;
  std::uint64_t micros = UINT64_MAX;
  auto operator<=>(const DeliveryTime&) const = default;
};

DeliveryTime delivery_time(std::string_view base) {
  DeliveryTime t;
  const char* end = base.data() + base.size();
  std::uint64_t seconds = 0;
  auto [p, ec] = std::from_chars(base.data(), end, seconds);
  if (ec != std::errc() || p == end || *p != '.') return t;
  t.seconds = seconds;
  if (++p == end || *p != 'M') return t;
  std::uint64_t micros = 0;
  auto [q, ec2] = std::from_chars(p + 1, end, micros);
  if (ec2 == std::errc() && q != p + 1) t.micros = micros;
  return t;
}

}  // namespace

void sort_in_delivery_order(std::vector<MessageInfo>& messages) {
  // Byte order would put "<s>.M999999" before "<s>.M1000" (one second,
  // Courier's names do not pad the microseconds): new messages would get
  // their UIDs out of delivery order.
  std::vector<std::pair<DeliveryTime, std::size_t>> keys;
  keys.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) keys.emplace_back(delivery_time(messages[i].base), i);
  std::sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return messages[a.second].base < messages[b.second].base;
  });
  std::vector<MessageInfo> sorted;
  sorted.reserve(messages.size());
  for (const auto& k : keys) sorted.push_back(std::move(messages[k.second]));
  messages = std::move(sorted);
}

Result<FolderScan> scan_folder(const std::string& maildir, const ScanOptions& options) {
  FolderScan result;
  std::vector<MessageInfo>& out = result.messages;
  std::unordered_map<std::string, std::size_t> by_base;
  // A subscribed copy of a sharable folder (Courier's filesystem shared
  // folders, lib/shared_maildirs.hpp) holds symbolic links to the messages of
  // the sharable folder; it is marked by its "shared" link. Only there are
  // message links followed; anywhere else a link is not a message.
  bool follow_links = options.follow_links > 0;
  if (options.follow_links < 0) {
    struct stat shared_st;
    follow_links = ::lstat((maildir + "/shared").c_str(), &shared_st) == 0 && S_ISLNK(shared_st.st_mode);
  }
  if (options.known_times) {
    result.new_mtime = options.known_times[0];
    result.cur_mtime = options.known_times[1];
    result.checked_at = options.known_times[2];
  } else {
    ::clock_gettime(CLOCK_REALTIME_COARSE, &result.checked_at);
  }
  for (Location loc : {Location::new_dir, Location::cur_dir}) {
    std::string dir = maildir + "/" + std::string(location_dir(loc));
    // One open per directory: fstat for its mtime (before reading, so a
    // change made while reading shows as a newer mtime), getdents64, and
    // fstatat relative to it.
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) return temp_sys("cannot open directory", dir, errno);
    if (!options.known_times) {
      struct stat dir_st;
      if (::fstat(dir_fd.get(), &dir_st) != 0) return temp_sys("cannot stat", dir, errno);
      (loc == Location::new_dir ? result.new_mtime : result.cur_mtime) = dir_st.st_mtim;
    }
    auto names = read_dir_fd(dir_fd.get(), dir);
    if (!names) return names.error();
    for (const auto& [entry, type] : *names) {
      auto parsed = parse_message_name(entry);
      if (!parsed) continue;
      if (type == DT_DIR) continue;
      if (loc == Location::new_dir && options.move_new && entry[0] != '.') {
        // As move_new_to_cur (maildir_getnew): the file is listed again
        // from cur/, read next, under its new name.
        std::string target = parsed->has_flags_info ? entry : parsed->base + ":2,";
        std::string dst = maildir + "/cur/" + target;
        if (rename_noreplace(dir + "/" + entry, dst) == 0) {
          result.moved.moved.push_back(std::move(target));
          continue;
        }
        int err = errno;
        if (err == ENOENT) continue;  // another reader moved it first
        result.moved.errors.push_back(sys_message("cannot rename " + dir + "/" + entry + " to", dst, err, fix_for(err)));
      }
      MessageInfo m;
      m.file_name = entry;
      m.location = loc;
      m.flags = parsed->flags;
      m.virtual_size_bytes = parsed->virtual_size_bytes;
      if (parsed->size_bytes) {
        m.size_bytes = *parsed->size_bytes;
        m.size_from_name = true;
      }
      if (options.stat_files || !parsed->size_bytes || (follow_links && type == DT_LNK)) {
        struct stat st;
        if (::fstatat(dir_fd.get(), entry.c_str(), &st, follow_links ? 0 : AT_SYMLINK_NOFOLLOW) != 0) {
          int err = errno;
          if (err == ENOENT) continue;  // moved or expunged while scanning
          return temp_sys("cannot stat", dir + "/" + entry, err);
        }
        if (!S_ISREG(st.st_mode)) continue;
        m.mtime = st.st_mtime;
        if (!parsed->size_bytes) m.size_bytes = static_cast<std::uint64_t>(st.st_size);
      }
      m.base = std::move(parsed->base);
      auto it = by_base.find(m.base);
      if (it != by_base.end()) {
        out[it->second] = std::move(m);  // cur/ is scanned last and wins
        continue;
      }
      by_base.emplace(m.base, out.size());
      out.push_back(std::move(m));
    }
  }
  sort_in_delivery_order(out);
  return result;
}

Result<std::vector<MessageInfo>> scan_messages(const std::string& maildir, bool stat_files) {
  ScanOptions options;
  options.stat_files = stat_files;
  auto r = scan_folder(maildir, options);
  if (!r) return r.error();
  return std::move(r->messages);
}

}  // namespace lib::maildir
