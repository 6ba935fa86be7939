// pop3d/mailbox.cpp: see mailbox.hpp.
#include "pop3d/mailbox.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <unordered_map>

#include "lib/atomic_file.hpp"
#include "lib/c_handle.hpp"
#include "lib/config.hpp"
#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"
#include "pop3d/message.hpp"
#include "pop3d/sizelist.hpp"

namespace pop3d {

namespace {

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llX", static_cast<unsigned long long>(v));
  return buf;
}

// The names in cur/: one readdir, no stat. Entries starting with '.',
// directories and names no Maildir reader may use are skipped.
lib::Result<std::vector<std::string>> list_cur(const std::string& cur) {
  lib::DirStream dir(::opendir(cur.c_str()));
  if (!dir) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      return lib::permanent_error("Maildir invalid: " + cur + " is missing (" + lib::errno_text(err) +
                                  "); create the maildir with maildirmake");
    return lib::temporary_error("cannot read " + cur + ": " + lib::errno_text(err));
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* de = ::readdir(dir.get())) {
    if (de->d_name[0] == '.') continue;
    if (de->d_type == DT_DIR) continue;
    std::string_view name(de->d_name);
    if (!lib::maildir::parse_message_name(name)) continue;
    names.emplace_back(name);
  }
  int err = errno;
  if (err != 0) return lib::temporary_error("cannot read " + cur + ": " + lib::errno_text(err));
  return names;
}

// Writes content to dir/tmp/ and renames it over dir/<file>: readers see the
// old or the new list, never half of one.
lib::Result<void> write_atomically(const std::string& maildir, std::string_view file,
                                   std::string_view content) {
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  std::string tmp = maildir + "/tmp/" + std::to_string(tv.tv_sec) + ".M" + std::to_string(tv.tv_usec) +
                    "P" + std::to_string(::getpid()) + "_pop3." + lib::maildir::maildir_host_name();
  lib::AtomicFileOptions options;
  options.temp_path = tmp;
  return lib::write_file_atomically(maildir + "/" + std::string(file), content, options);
}

// flock() on cur/ for the time the snapshot is taken; a file system without
// flock on directories (some NFS) just goes without.
class CurLock {
 public:
  explicit CurLock(const std::string& cur) {
    fd_.reset(::open(cur.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd_) {
      while (::flock(fd_.get(), LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }

 private:
  lib::UniqueFd fd_;  // closing it releases the lock
};

}  // namespace

lib::Result<Mailbox> Mailbox::open(const std::string& maildir, OpenReport& report) {
  Mailbox box;
  box.maildir_ = maildir;
  const std::string cur = maildir + "/cur";

  // Like every good Maildir reader (Courier's comment), purge old tmp/ files.
  auto purged = lib::maildir::purge_tmp(maildir);
  if (!purged) report.warnings.push_back(purged.error().message);

  CurLock lock(cur);

  auto moved = lib::maildir::move_new_to_cur(maildir);
  if (moved) {
    report.moved_from_new = moved->moved.size();
    for (auto& e : moved->errors) report.warnings.push_back(std::move(e));
  } else {
    report.warnings.push_back(moved.error().message);
  }

  auto names = list_cur(cur);
  if (!names) return names.error();
  std::sort(names->begin(), names->end(),
            [](const std::string& a, const std::string& b) { return compare_message_names(a, b) < 0; });

  // The cache.
  const std::string list_path = maildir + "/" + std::string(sizelist_file_name);
  SizeList list;
  bool list_usable = false;
  int open_errno = 0;
  auto text = lib::read_small_file(list_path, sizelist_max_file_bytes, &open_errno);
  if (text) {
    size_t skipped = 0;
    if (auto parsed = parse_sizelist(*text, &skipped)) {
      list = std::move(*parsed);
      list_usable = true;
      if (skipped > 0)
        report.warnings.push_back(list_path + ": " + std::to_string(skipped) +
                                  " unreadable lines skipped; those messages get new UIDLs");
    } else {
      report.warnings.push_back(list_path + " has no valid header; all messages get new UIDLs");
    }
  } else if (open_errno != ENOENT) {
    report.warnings.push_back(text.error().message + "; all messages get new UIDLs");
  }
  const std::uint64_t now = static_cast<std::uint64_t>(std::time(nullptr));
  if (!list_usable) {
    list = SizeList{};
    list.uidv = now;
  } else if (list.uidv == 0) {
    list.uidv = now;  // a version 2 header without one: as Courier, the time
  }
  bool changed = !list_usable || list.version != sizelist_version;

  std::unordered_map<std::string_view, size_t> known;
  known.reserve(list.entries.size());
  for (size_t i = 0; i < list.entries.size(); ++i) known.emplace(message_base(list.entries[i].file_name), i);
  std::vector<bool> used(list.entries.size(), false);

  std::vector<bool> is_new;
  box.messages_.reserve(names->size());
  is_new.reserve(names->size());
  for (auto& name : *names) {
    Pop3Message m;
    auto it = known.find(message_base(name));
    if (it != known.end() && !used[it->second]) {
      const auto& e = list.entries[it->second];
      used[it->second] = true;
      m.size = e.size;
      m.uid = e.uid;
      m.uidv = e.uidv;
      m.utf8 = e.utf8;
      m.file_name = std::move(name);
      box.messages_.push_back(std::move(m));
      is_new.push_back(false);
      continue;
    }
    // Not in the list: measure it once.
    auto parsed = lib::maildir::parse_message_name(name);
    if (parsed && parsed->virtual_size_bytes) {
      m.size = *parsed->virtual_size_bytes;  // ",W=": the CRLF size, from the name
    } else {
      std::string path = cur + "/" + name;
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) {
        int err = errno;
        if (err == ENOENT) continue;  // expunged by another session meanwhile
        report.warnings.push_back("cannot open " + path + ": " + lib::errno_text(err) + "; not listed");
        continue;
      }
      lib::UniqueFd file(fd);
      auto measured = measure_file(fd, path);
      if (!measured) {
        report.warnings.push_back(measured.error().message + "; not listed");
        continue;
      }
      m.size = measured->pop3_size;
      m.utf8 = measured->utf8_header;
      ++report.measured;
    }
    if (list.next_uid >= sizelist_max_uid) {
      // A hostile or corrupt list counted UIDs up to the limit: start over.
      return lib::temporary_error(list_path + " has run out of UIDs; remove it (clients then "
                                  "download the mailbox again)");
    }
    m.uid = list.next_uid++;
    m.uidv = list.uidv;
    m.file_name = std::move(name);
    box.messages_.push_back(std::move(m));
    is_new.push_back(true);
    changed = true;
  }
  if (std::find(used.begin(), used.end(), false) != used.end()) changed = true;

  if (changed && !box.messages_.empty()) {
    SizeList out;
    out.next_uid = list.next_uid;
    out.uidv = list.uidv;
    out.entries.reserve(box.messages_.size());
    for (const auto& m : box.messages_) out.entries.push_back({m.file_name, m.size, m.uid, m.uidv, m.utf8});
    auto written = write_atomically(maildir, sizelist_file_name, format_sizelist(out));
    if (written) {
      report.list_written = true;
    } else {
      // Courier's recovery (pop3dserver.c): UIDs that could not be recorded
      // must not be shown, or they would change next time. Show the known
      // messages only; if there are none, the first message alone with a
      // UIDL made from its inode, so a full disk can still be emptied.
      report.warnings.push_back(written.error().message +
                                "; new messages are hidden until the list can be saved");
      std::vector<Pop3Message> kept;
      for (size_t i = 0; i < box.messages_.size(); ++i)
        if (!is_new[i]) kept.push_back(std::move(box.messages_[i]));
      if (kept.empty() && !box.messages_.empty()) {
        struct stat st;
        std::string path = cur + "/" + box.messages_[0].file_name;
        if (::stat(path.c_str(), &st) == 0) {
          box.enomem_uidl_ = "ENOMEM-" + hex(static_cast<std::uint64_t>(st.st_mtime)) + "-" +
                             hex(static_cast<std::uint64_t>(st.st_dev)) + "-" +
                             hex(static_cast<std::uint64_t>(st.st_ino));
          kept.push_back(std::move(box.messages_[0]));
        }
      }
      box.messages_ = std::move(kept);
    }
  }
  return box;
}

void Mailbox::undelete_all() {
  for (auto& m : messages_) m.deleted = false;
}

std::string Mailbox::uidl(size_t index) const {
  if (!enomem_uidl_.empty()) return enomem_uidl_;
  return format_uidl(messages_[index].uid, messages_[index].uidv);
}

lib::Result<std::optional<lib::UniqueFd>> Mailbox::open_message(size_t index) {
  Pop3Message& m = messages_[index];
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string path = maildir_ + "/cur/" + m.file_name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) return std::optional<lib::UniqueFd>(lib::UniqueFd(fd));
    int err = errno;
    if (err != ENOENT) return lib::temporary_error("cannot open " + path + ": " + lib::errno_text(err));
    // Renamed by another session (a flag change)? Look for its base name.
    auto found = lib::maildir::find_message(maildir_, message_base(m.file_name));
    if (!found) return found.error();
    if (!*found) return std::optional<lib::UniqueFd>();
    if ((*found)->location == lib::maildir::Location::new_dir) {
      std::string new_path = maildir_ + "/new/" + (*found)->file_name;
      fd = ::open(new_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) return std::optional<lib::UniqueFd>(lib::UniqueFd(fd));
      if (errno != ENOENT) return lib::temporary_error("cannot open " + new_path + ": " + lib::errno_text(errno));
      continue;
    }
    m.file_name = (*found)->file_name;
  }
  return std::optional<lib::UniqueFd>();
}

std::optional<std::string> Mailbox::mark_seen(size_t index) {
  Pop3Message& m = messages_[index];
  size_t colon = m.file_name.find(':');
  if (colon != std::string::npos) {
    std::string_view info = std::string_view(m.file_name).substr(colon + 1);
    if (info.substr(0, 2) != "2,") return std::nullopt;                  // other info: leave it
    if (info.find('S') != std::string_view::npos) return std::nullopt;  // already seen
  }
  auto changed = lib::maildir::change_flags(maildir_, m.file_name, "S", "");
  if (!changed) return changed.error().message;
  if (*changed) m.file_name = **changed;
  return std::nullopt;
}

UpdateReport Mailbox::remove_deleted() {
  UpdateReport report;
  std::int64_t quota_bytes = 0;
  std::int64_t quota_messages = 0;
  for (auto& m : messages_) {
    if (!m.deleted) continue;
    std::string name = m.file_name;
    std::string path = maildir_ + "/cur/" + name;
    // The size for maildirsize: ",S=" from the name, else the file's.
    std::uint64_t bytes = 0;
    auto parsed = lib::maildir::parse_message_name(name);
    bool has_size = parsed && parsed->size_bytes;
    if (has_size) bytes = *parsed->size_bytes;
    bool removed = false;
    for (int attempt = 0; attempt < 3 && !removed; ++attempt) {
      struct stat st;
      if (!has_size && ::lstat(path.c_str(), &st) == 0) bytes = static_cast<std::uint64_t>(st.st_size);
      if (::unlink(path.c_str()) == 0) {
        removed = true;
        report.removed_names.push_back("cur/" + name);
        if (lib::maildir::counts_toward_quota(name)) {
          quota_bytes -= static_cast<std::int64_t>(bytes);
          quota_messages -= 1;
        }
        break;
      }
      int err = errno;
      if (err != ENOENT) {
        report.errors.push_back("cannot remove " + path + ": " + lib::errno_text(err));
        break;
      }
      // Renamed meanwhile (flags): find it again; gone: another session
      // removed it (and accounted for it in maildirsize).
      auto found = lib::maildir::find_message(maildir_, message_base(name));
      if (!found) {
        report.errors.push_back(found.error().message);
        break;
      }
      if (!*found) {
        removed = true;
        break;
      }
      name = (*found)->file_name;
      path = maildir_ + "/" + std::string(lib::maildir::location_dir((*found)->location)) + "/" + name;
    }
    if (removed) {
      ++report.removed;
      report.removed_bytes += m.size;
    } else {
      ++report.failed;
      if (report.errors.empty()) report.errors.push_back("cannot remove " + path + ": it keeps moving");
    }
  }
  if (quota_messages != 0) {
    auto q = lib::maildir::update_quota(maildir_, quota_bytes, quota_messages);
    if (!q) report.errors.push_back(q.error().message);
  }
  return report;
}

}  // namespace pop3d
