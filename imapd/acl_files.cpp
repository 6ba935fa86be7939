// imapd/acl_files.cpp: courierimapacl and courierimaphieracl/ on disk (see
// acl.hpp). Writes go through lib/atomic_file (temporary file, fsync,
// rename), so a reader sees the old ACL or the new one, never half of one.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "imapd/acl.hpp"
#include "lib/atomic_file.hpp"
#include "lib/c_handle.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd::acl {
namespace {

constexpr std::size_t max_acl_bytes = 256 * 1024;

std::string acl_file_of(const std::string& maildir, const std::string& folder) {
  return lib::maildir::folder_path(maildir, folder) + "/" + std::string(file_name);
}

std::string hier_file_of(const std::string& maildir, const std::string& folder) {
  return maildir + "/" + std::string(hier_dir_name) + "/" + folder;
}

enum class Found { list, missing };

// One file: its list (Found::list), or Found::missing when it does not exist
// or has no usable line (then the caller goes on as Courier does for a
// missing file, with a log line saying so).
lib::Result<Found> read_one(const std::string& path, List& out) {
  int open_errno = 0;
  auto text = lib::read_small_file(path, max_acl_bytes, &open_errno);
  if (!text) {
    if (open_errno == ENOENT || open_errno == ENOTDIR) return Found::missing;
    return lib::temporary_error("ACL file " + path + ": " + text.error().message +
                                "; check the file's owner and mode (imapd reads it as the logged-in account)");
  }
  std::vector<std::string> problems;
  List list = parse(*text, problems);
  for (const auto& p : problems)
    lib::log::warning("ACL file %s: %s; line ignored (fix it with maildiracl -set, or remove the file)", path.c_str(),
                      p.c_str());
  if (list.empty()) {
    if (!text->empty())
      lib::log::warning("ACL file %s has no usable entry: using the inherited or default ACL instead "
                        "(rewrite it with maildiracl -set, or remove it)",
                        path.c_str());
    return Found::missing;
  }
  out = std::move(list);
  return Found::list;
}

}  // namespace

lib::Result<List> read(const std::string& maildir, const std::string& folder) {
  std::string f = folder;
  for (int depth = 0; depth < 256; ++depth) {
    List list;
    auto r = read_one(acl_file_of(maildir, f), list);
    if (!r) return r.error();
    if (*r == Found::missing && !f.empty()) {
      r = read_one(hier_file_of(maildir, f), list);
      if (!r) return r.error();
    }
    if (*r == Found::list) {
      add_default_admin(list);
      return list;
    }
    if (f.empty()) return default_inbox_acl();
    std::size_t dot = f.rfind('.');
    f = dot == std::string::npos ? std::string() : f.substr(0, dot);
  }
  return default_inbox_acl();
}

lib::Result<void> write(const std::string& maildir, const std::string& folder, const List& list,
                        std::string_view owner_login) {
  if (folder.find('/') != std::string::npos || folder.find("..") != std::string::npos ||
      (!folder.empty() && (folder.front() == '.' || folder.back() == '.')))
    return lib::permanent_error("invalid folder name \"" + folder + "\"");
  List fixed = list;
  add_default_admin(fixed);  // administrators always keep every right
  std::string who = check_minimum_rights(fixed, owner_login);
  if (!who.empty())
    return lib::permanent_error(who == "administrators"
                                    ? "the administrators group must keep every right (" + std::string(all_letters) + ")"
                                    : who + " must keep the l and a rights");
  std::string dir = lib::maildir::folder_path(maildir, folder);
  struct stat st{};
  std::string path;
  if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    path = dir + "/" + std::string(file_name);
  } else {
    std::string hier = maildir + "/" + std::string(hier_dir_name);
    if (::mkdir(hier.c_str(), 0755) != 0 && errno != EEXIST)
      return lib::temporary_error("cannot create " + hier + ": " + std::strerror(errno));
    path = hier + "/" + folder;
  }
  lib::AtomicFileOptions options;
  options.mode = 0644;
  return lib::write_file_atomically(path, format(fixed), options);
}

void remove_files(const std::string& maildir, const std::string& folder) {
  if (folder.empty()) return;
  (void)::unlink(hier_file_of(maildir, folder).c_str());
}

lib::Result<std::vector<std::string>> reset(const std::string& maildir) {
  std::string hier = maildir + "/" + std::string(hier_dir_name);
  std::vector<std::string> removed;
  lib::DirStream d(::opendir(hier.c_str()));
  if (!d) {
    if (errno == ENOENT) return removed;
    return lib::temporary_error("cannot read " + hier + ": " + std::strerror(errno));
  }
  auto folders = lib::maildir::list_folders(maildir);
  if (!folders) return folders.error();
  std::set<std::string> parents;
  for (const auto& f : *folders)
    for (std::size_t dot = f.name.find('.'); dot != std::string::npos; dot = f.name.find('.', dot + 1))
      parents.insert(f.name.substr(0, dot));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d.get()))
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  for (const auto& n : names) {
    if (parents.count(n)) continue;
    if (::unlink((hier + "/" + n).c_str()) == 0) removed.push_back(n);
  }
  return removed;
}

}  // namespace imapd::acl
