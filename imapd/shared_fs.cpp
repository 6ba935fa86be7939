// imapd/shared_fs.cpp: filesystem shared folders (see shared_fs.hpp).
#include "imapd/shared_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <map>
#include <set>

#include "imapd/mailbox.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/shared_maildirs.hpp"

namespace imapd::shared_fs {
namespace {

namespace md = lib::maildir;

constexpr std::string_view link_name = "shared";

std::string copies_dir(const std::string& root) { return root + "/" + std::string(md::shared_folders_dir_name); }

// Splits "shared.NICK.NAME" into NICK and NAME; false when it has not both.
bool split(std::string_view name, std::string& nick, std::string& folder) {
  if (name.size() <= namespace_root.size() + 1 || name.substr(0, namespace_root.size()) != namespace_root ||
      name[namespace_root.size()] != '.')
    return false;
  std::string_view rest = name.substr(namespace_root.size() + 1);
  std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= rest.size()) return false;
  nick = std::string(rest.substr(0, dot));
  folder = std::string(rest.substr(dot + 1));
  return true;
}

void log_warnings(const md::SharedMaildirList& list, const std::string& login) {
  for (const auto& w : list.warnings) lib::log::warning("user=%s: shared folders: %s", login.c_str(), w.c_str());
}

std::optional<std::string> sharable_maildir_of(const std::string& root, const std::string& nick) {
  auto list = md::reachable_shared_maildirs(root, md::system_shared_maildirs_path());
  for (const auto& e : list.entries)
    if (e.nick == nick) return e.path;
  return std::nullopt;
}

// readlink(2) of a short link; nullopt when it is not one.
std::optional<std::string> read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

lib::Error sys_error(lib::ErrorKind kind, const std::string& what, const std::string& path, int err) {
  return lib::Error{kind, what + " " + path + ": " + lib::errno_text(err)};
}

// mkdir that accepts an existing directory.
bool make_dir(const std::string& path) { return ::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST; }

// Entries of a directory that are not dot files; errno set on failure.
std::optional<std::vector<std::string>> entries_of(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return std::nullopt;
  std::vector<std::string> out;
  while (dirent* de = ::readdir(d))
    if (de->d_name[0] != '.') out.emplace_back(de->d_name);
  ::closedir(d);
  return out;
}

std::string base_of(std::string_view file_name) {
  std::size_t colon = file_name.rfind(':');
  return std::string(file_name.substr(0, colon));
}

// A unique name in the copy's tmp/ for a link about to be renamed into place.
std::string tmp_link_name(const std::string& copy, std::string_view what) {
  static unsigned counter = 0;
  return copy + "/tmp/" + std::to_string(std::time(nullptr)) + "." + std::to_string(::getpid()) + "_" +
         std::to_string(++counter) + "." + std::string(what);
}

// Points `link_path` at `target`: a new link in tmp/, renamed over the old.
bool relink(const std::string& copy, const std::string& link_path, const std::string& target) {
  std::string tmp = tmp_link_name(copy, "relink");
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return false;
  if (::rename(tmp.c_str(), link_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    errno = err;
    return false;
  }
  return true;
}

// The copy's sharable folder (its "shared" link), made when missing.
lib::Result<std::string> ensure_copy(const std::string& root, const FolderName& name) {
  std::string nick, folder;
  split(name.imap_name, nick, folder);
  std::string copy = name.dir;
  if (auto target = read_link(copy + "/" + std::string(link_name))) return *target;
  auto maildir = sharable_maildir_of(root, nick);
  if (!maildir)
    return lib::permanent_error("shared folder " + name.imap_name + ": \"" + nick +
                                "\" is no longer listed in shared-maildirs or maildirshared");
  std::string sharable = md::folder_path(*maildir, folder);
  std::string nick_dir = copies_dir(root) + "/" + nick;
  if (!make_dir(copies_dir(root)) || !make_dir(nick_dir) || !make_dir(copy))
    return sys_error(lib::ErrorKind::temporary, "shared folder " + name.imap_name + ": cannot create", copy, errno);
  for (const char* sub : {"/tmp", "/cur", "/new"})
    if (!make_dir(copy + sub))
      return sys_error(lib::ErrorKind::temporary, "shared folder " + name.imap_name + ": cannot create",
                       copy + sub, errno);
  // The link last: its presence marks a complete copy (two sessions may race
  // here; the loser finds the winner's link).
  std::string link = copy + "/" + std::string(link_name);
  if (::symlink(sharable.c_str(), link.c_str()) != 0 && errno != EEXIST)
    return sys_error(lib::ErrorKind::temporary, "shared folder " + name.imap_name + ": cannot create the link",
                     link, errno);
  auto target = read_link(link);
  if (!target) return sys_error(lib::ErrorKind::temporary, "shared folder " + name.imap_name + ": cannot read",
                                link, errno);
  return *target;
}

// True when the copy is newer than the sharable folder's new/ and cur/.
bool up_to_date(const std::string& copy, const std::string& sharable) {
  struct stat ts, st;
  if (::stat((copy + "/" + std::string(md::shared_timestamp_file_name)).c_str(), &ts) != 0) return false;
  for (const char* sub : {"/new", "/cur"})
    if (::stat((sharable + sub).c_str(), &st) != 0 || st.st_mtime >= ts.st_mtime) return false;
  return true;
}

lib::Result<void> sync(const FolderName& name, const std::string& copy, const std::string& sharable,
                       bool writable) {
  // 1. The first reader with write access moves new mail into cur/.
  if (writable) (void)md::move_new_to_cur(sharable);
  if (up_to_date(copy, sharable)) return {};
  std::string ts = copy + "/" + std::string(md::shared_timestamp_file_name);
  int fd = ::open(ts.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::futimens(fd, nullptr);
    ::close(fd);
  }
  std::string shared_cur = sharable + "/cur";
  auto names = entries_of(shared_cur);
  if (!names)
    return sys_error(lib::ErrorKind::permanent, "shared folder " + name.imap_name + " is not readable:", shared_cur,
                     errno);
  std::map<std::string, std::string> by_base;  // base -> current file name in the sharable cur/
  for (auto& n : *names) by_base.emplace(base_of(n), n);
  // Read-only folders never see new/ moved to cur/ by us; show those too.
  if (!writable)
    if (auto fresh = entries_of(sharable + "/new"))
      for (auto& n : *fresh) by_base.emplace(base_of(n), "../new/" + n);
  for (const char* sub : {"/cur", "/new"}) {
    std::string dir = copy + sub;
    auto mine = entries_of(dir);
    if (!mine) return sys_error(lib::ErrorKind::temporary, "shared folder " + name.imap_name + ": cannot read", dir, errno);
    for (const auto& n : *mine) {
      std::string path = dir + "/" + n;
      auto it = by_base.find(base_of(n));
      if (it == by_base.end()) {  // 2. gone from the sharable folder
        ::unlink(path.c_str());
        continue;
      }
      std::string want = shared_cur + "/" + it->second;
      auto have = read_link(path);
      if (!have || *have != want) (void)relink(copy, path, want);  // 3.
      by_base.erase(it);
    }
  }
  for (const auto& [base, file] : by_base) {  // 4. new messages
    std::string tmp = tmp_link_name(copy, "newlink");
    std::string target = shared_cur + "/" + file;
    if (::symlink(target.c_str(), tmp.c_str()) != 0)
      return sys_error(lib::ErrorKind::temporary, "shared folder " + name.imap_name + ": cannot create", tmp, errno);
    std::string to = copy + "/new/" + base + ":2,";
    if (::rename(tmp.c_str(), to.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return sys_error(lib::ErrorKind::temporary, "shared folder " + name.imap_name + ": cannot create", to, err);
    }
  }
  return {};
}

}  // namespace

bool is_shared_name(std::string_view n) {
  return n == namespace_root ||
         (n.size() > namespace_root.size() && n.substr(0, namespace_root.size()) == namespace_root &&
          n[namespace_root.size()] == '.');
}

std::optional<FolderName> resolve(const std::string& root, std::string_view utf8_name, std::string& why) {
  std::string nick, folder;
  if (!split(utf8_name, nick, folder)) {
    why = "Shared folders are named shared.<name>.<folder> (see LIST \"\" shared.*).";
    return std::nullopt;
  }
  std::string bad;
  if (!md::valid_share_nick(nick, bad)) {
    why = "Invalid shared folder name: " + bad + ".";
    return std::nullopt;
  }
  if (auto ok = md::validate_folder_name(folder); !ok) {
    why = "Invalid shared folder name: " + ok.error().message;
    return std::nullopt;
  }
  FolderName out;
  out.imap_name = std::string(utf8_name);
  out.folder = std::string(md::shared_folders_dir_name) + "/" + nick + "/" + folder;  // never a Maildir++ name
  out.dir = copies_dir(root) + "/" + nick + "/" + folder;
  // A copy made earlier keeps working while its link exists; otherwise the
  // nick must be reachable now.
  struct stat st;
  if (::lstat((out.dir + "/" + std::string(link_name)).c_str(), &st) != 0 && !sharable_maildir_of(root, nick)) {
    why = "[NONEXISTENT] No shared folders named \"" + nick + "\" (see shared-maildirs).";
    return std::nullopt;
  }
  return out;
}

std::vector<ListEntry> list(const std::string& root, const std::string& login) {
  std::vector<ListEntry> out;
  auto shared = md::reachable_shared_maildirs(root, md::system_shared_maildirs_path());
  log_warnings(shared, login);
  if (shared.entries.empty()) return out;
  out.push_back({std::string(namespace_root), false, true});
  std::map<std::string, std::vector<ListEntry>> by_nick;
  for (const auto& e : shared.entries) {
    auto folders = md::list_folders(e.path);
    if (!folders) {
      lib::log::warning("user=%s: shared folders: sharable maildir \"%s\": %s", login.c_str(), e.nick.c_str(),
                        folders.error().message.c_str());
      continue;
    }
    std::string prefix = std::string(namespace_root) + "." + e.nick;
    auto& mine = by_nick[prefix];
    for (const auto& f : *folders) {
      bool readable = f.exists && ::access((md::folder_path(e.path, f.name) + "/cur").c_str(), R_OK | X_OK) == 0;
      if (!readable && !f.has_children) continue;
      mine.push_back({prefix + "." + f.name, readable, f.has_children});
    }
  }
  for (auto& [prefix, entries] : by_nick) {
    out.push_back({prefix, false, !entries.empty()});
    for (auto& e : entries) out.push_back(std::move(e));
  }
  return out;
}

lib::Result<Prepared> prepare(const std::string& root, const FolderName& name) {
  auto sharable = ensure_copy(root, name);
  if (!sharable) return sharable.error();
  struct stat st;
  std::string cur = *sharable + "/cur";
  if (::stat(cur.c_str(), &st) != 0 || ::access(cur.c_str(), R_OK | X_OK) != 0)
    return sys_error(lib::ErrorKind::permanent, "shared folder " + name.imap_name + " is not available:", cur, errno);
  Prepared p;
  p.sharable_dir = *sharable;
  p.read_only = ::access(cur.c_str(), W_OK) != 0;
  auto s = sync(name, name.dir, *sharable, !p.read_only);
  if (!s) return s.error();
  return p;
}

std::optional<std::string> append_dir(const std::string& root, const FolderName& name, std::string& why) {
  auto p = prepare(root, name);
  if (!p) {
    why = p.error().kind == lib::ErrorKind::permanent ? "[NONEXISTENT] " + p.error().message + "."
                                                      : "Cannot open " + name.imap_name + " now, see the log.";
    return std::nullopt;
  }
  if (p->read_only) {
    why = read_only_text(name.imap_name);
    return std::nullopt;
  }
  return p->sharable_dir;
}

void after_append(const std::string& root, const FolderName& name, const std::string& dir,
                  const std::vector<std::string>& paths, const std::string& login) {
  struct stat st;
  if (::stat((dir + "/cur").c_str(), &st) == 0) {
    mode_t mode = 0600 | (st.st_mode & 0044);
    for (const auto& p : paths)
      if (::chmod(p.c_str(), mode) != 0)
        lib::log::warning("user=%s: APPEND to %s: cannot make %s readable to others: %s", login.c_str(),
                          name.imap_name.c_str(), p.c_str(), lib::errno_text(errno).c_str());
  }
  if (auto p = prepare(root, name); !p)
    lib::log::warning("user=%s: APPEND to %s: %s", login.c_str(), name.imap_name.c_str(), p.error().message.c_str());
}

std::optional<std::vector<bool>> copy_into(const std::string& root, const FolderName& name, Mailbox& src,
                                           const std::vector<std::size_t>& indexes, const std::string& login,
                                           std::string& why) {
  auto dir = append_dir(root, name, why);
  if (!dir) return std::nullopt;
  std::vector<bool> copied(src.count(), false);
  std::vector<std::string> paths;
  for (std::size_t idx : indexes) {
    auto fd = src.open_message(idx);
    if (fd && !*fd) continue;  // expunged meanwhile
    std::optional<lib::Result<md::Delivered>> d;
    if (fd) {
      md::DeliveryOptions opts;
      opts.location = md::Location::cur_dir;
      if (src.stat_message(idx)) opts.mtime = src.messages()[idx].internal_date;
      d = md::deliver_from_fd(*dir, (*fd)->get(), opts);
    }
    if (!fd || !*d) {
      lib::log::error("user=%s: COPY to %s: %s", login.c_str(), name.imap_name.c_str(),
                      (!fd ? fd.error() : d->error()).message.c_str());
      for (const auto& p : paths) ::unlink(p.c_str());
      why = "Cannot copy into " + name.imap_name + " now, see the log.";
      return std::nullopt;
    }
    paths.push_back((*d)->path);
    copied[idx] = true;
  }
  after_append(root, name, *dir, paths, login);
  return copied;
}

std::size_t expunge_targets(const Mailbox& mb, std::vector<bool>& which, const std::string& login) {
  std::size_t kept = 0;
  const auto& msgs = mb.messages();
  for (std::size_t i = 0; i < which.size() && i < msgs.size(); ++i) {
    if (!which[i]) continue;
    std::string path = mb.path_of(msgs[i]);
    auto target = read_link(path);
    if (!target) continue;  // not a link: just remove it
    if (::unlink(target->c_str()) == 0 || errno == ENOENT) continue;
    int err = errno;
    lib::log::info("user=%s: EXPUNGE in %s: %s stays: %s (only its owner and the folder's owner may remove it)",
                   login.c_str(), mb.name().imap_name.c_str(), target->c_str(), lib::errno_text(err).c_str());
    which[i] = false;
    ++kept;
  }
  return kept;
}

std::string read_only_text(std::string_view imap_name) {
  return "[NOPERM] " + std::string(imap_name) + " is read-only to you (its owner shares it with maildirmake -s read).";
}

std::string read_only_reply(const Mailbox& mb, std::string_view plain) {
  const FolderName& n = mb.name();
  if (n.dir.empty() || ::access((n.dir + "/" + std::string(link_name) + "/cur").c_str(), W_OK) == 0)
    return std::string(plain);
  return read_only_text(n.imap_name);
}

}  // namespace imapd::shared_fs
