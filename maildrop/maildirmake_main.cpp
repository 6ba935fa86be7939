// maildrop/maildirmake_main.cpp: maildirmake(1), Courier's tool to make a
// maildir, a Maildir++ folder or a quota.
//
//   maildirmake [-S] DIR                     a maildir (-S: sharable)
//   maildirmake [-s read|write[,group]] -f FOLDER DIR   a folder of DIR
//   maildirmake -q QUOTA DIR                  set the Maildir++ quota
//   maildirmake --add NICK=PATH DIR           link sharable maildir PATH into DIR
//   maildirmake --del NICK DIR                remove that link
//
// SECURITY: runs as the caller; creates only what it is told to.
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"
#include "lib/shared_maildirs.hpp"
#include "lib/atomic_file.hpp"

namespace {
constexpr const char* usage_text =
    "usage: maildirmake [-S] [-q QUOTA] [-f FOLDER [-s read|write[,group]]] MAILDIR\n"
    "       maildirmake --add NICK=PATH MAILDIR | --del NICK MAILDIR\n"
    "  MAILDIR alone    makes the maildir (cur/ new/ tmp/), repairing a partial one\n"
    "  -f FOLDER        makes the Maildir++ folder MAILDIR/.FOLDER instead\n"
    "  -q QUOTA         sets the quota, e.g. 5000000S,1000C (bytes, messages)\n"
    "  -S               makes a sharable maildir (readable by others)\n"
    "  -s MODE          with -f: a shared folder, read (others read) or write (others\n"
    "                   write, sticky), ',group' limits it to the group\n"
    "  --add NICK=PATH  lists the sharable maildir PATH in MAILDIR/shared-maildirs;\n"
    "                   its folders appear over IMAP as shared.NICK.FOLDER\n"
    "  --del NICK       removes NICK from MAILDIR/shared-maildirs and its\n"
    "                   subscriptions (MAILDIR/shared-folders/NICK)\n"
    "System-wide sharable maildirs: " SYSCONFDIR "/maildirshared (same format).\n"
    "See maildirmake(1).\n";

// Rewrites MAILDIR/shared-maildirs with `entries` (through tmp/ and rename).
int write_shared(const std::string& dir, const std::vector<lib::maildir::SharedMaildir>& entries) {
  std::string path = dir + "/" + std::string(lib::maildir::shared_maildirs_file_name);
  lib::AtomicFileOptions options;
  options.mode = 0644;
  auto w = lib::write_file_atomically(path, lib::maildir::format_shared_maildirs(entries), options);
  if (!w) {
    lib::log::error("%s", w.error().message.c_str());
    return 73;
  }
  return 0;
}

// The current entries of MAILDIR/shared-maildirs; exit status in `rc` on failure.
std::optional<std::vector<lib::maildir::SharedMaildir>> read_shared(const std::string& dir, int& rc) {
  struct stat st;
  if (::stat((dir + "/cur").c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    lib::log::error("%s is not a maildir (no cur/): make it first with maildirmake %s", dir.c_str(), dir.c_str());
    rc = 66;
    return std::nullopt;
  }
  std::string path = dir + "/" + std::string(lib::maildir::shared_maildirs_file_name);
  auto list = lib::maildir::read_shared_maildirs(path);
  if (!list) {
    lib::log::error("%s", list.error().message.c_str());
    rc = 74;
    return std::nullopt;
  }
  for (const auto& w : list->warnings) lib::log::warning("%s (the line is dropped when the file is rewritten)", w.c_str());
  return list->entries;
}

// --add NICK=PATH: PATH must be a maildir; it is recorded absolute.
int add_shared(const std::string& spec, const std::string& dir) {
  std::size_t eq = spec.find('=');
  std::string why;
  if (eq == std::string::npos || eq + 1 == spec.size()) {
    lib::log::error("--add %s: use --add NICK=/path/to/sharable/maildir", spec.c_str());
    return 64;
  }
  std::string nick = spec.substr(0, eq), target = spec.substr(eq + 1);
  if (!lib::maildir::valid_share_nick(nick, why)) {
    lib::log::error("--add %s: invalid name \"%s\": %s", spec.c_str(), nick.c_str(), why.c_str());
    return 64;
  }
  char resolved[PATH_MAX];
  if (::realpath(target.c_str(), resolved) == nullptr) {
    lib::log::error("--add %s: %s: %s", spec.c_str(), target.c_str(), lib::errno_text(errno).c_str());
    return 66;
  }
  struct stat st;
  if (::stat((std::string(resolved) + "/cur").c_str(), &st) != 0) {
    lib::log::error("--add %s: %s is not a maildir (no cur/); make it with maildirmake -S %s", spec.c_str(),
                    resolved, resolved);
    return 66;
  }
  int rc = 0;
  auto entries = read_shared(dir, rc);
  if (!entries) return rc;
  for (auto& e : *entries)
    if (e.nick == nick) {
      lib::log::error("--add: %s already lists \"%s\" (%s); remove it first with --del %s", dir.c_str(), nick.c_str(),
                      e.path.c_str(), nick.c_str());
      return 73;
    }
  entries->push_back({nick, resolved, 0});
  return write_shared(dir, *entries);
}

// --del NICK: drops the line and the subscriptions under shared-folders/NICK.
int del_shared(const std::string& nick, const std::string& dir) {
  std::string why;
  if (!lib::maildir::valid_share_nick(nick, why)) {
    lib::log::error("--del %s: invalid name: %s", nick.c_str(), why.c_str());
    return 64;
  }
  int rc = 0;
  auto entries = read_shared(dir, rc);
  if (!entries) return rc;
  std::size_t before = entries->size();
  std::erase_if(*entries, [&](const auto& e) { return e.nick == nick; });
  if (entries->size() == before) {
    lib::log::error("--del %s: %s/shared-maildirs does not list \"%s\"", nick.c_str(), dir.c_str(), nick.c_str());
    return 66;
  }
  if (int w = write_shared(dir, *entries); w != 0) return w;
  // The per-user copies hold only links and flags; the messages stay in the
  // sharable maildir. remove_all does not follow symlinks.
  std::error_code ec;
  std::filesystem::remove_all(dir + "/" + std::string(lib::maildir::shared_folders_dir_name) + "/" + nick, ec);
  if (ec)
    lib::log::warning("--del %s: could not remove %s/shared-folders/%s: %s", nick.c_str(), dir.c_str(), nick.c_str(),
                      ec.message().c_str());
  return 0;
}
}

int main(int argc, char** argv) {
  lib::log::Options lo;
  lib::log::open("maildirmake", lo);
  std::string folder, quota, share, add, del;
  bool sharable = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage_text, stdout);
      return 0;
    }
    if (a == "-S") sharable = true;
    else if (a == "-f" && i + 1 < argc) folder = argv[++i];
    else if (a == "-q" && i + 1 < argc) quota = argv[++i];
    else if (a == "-s" && i + 1 < argc) share = argv[++i];
    else if (a == "--add" && i + 1 < argc) add = argv[++i];
    else if (a.rfind("--add=", 0) == 0) add = a.substr(6);
    else if (a == "--del" && i + 1 < argc) del = argv[++i];
    else if (a.rfind("--del=", 0) == 0) del = a.substr(6);
    else if (a.size() > 1 && a[0] == '-') {
      lib::log::error("unknown or incomplete option %s (see maildirmake --help)", a.c_str());
      return 64;
    } else break;
  }
  if (i + 1 != argc) {
    std::fputs(usage_text, stderr);
    return 64;
  }
  std::string dir = argv[i];
  if (!add.empty() || !del.empty()) {
    if (!add.empty() && !del.empty()) {
      lib::log::error("--add and --del: give one at a time");
      return 64;
    }
    return add.empty() ? del_shared(del, dir) : add_shared(add, dir);
  }
  if (!share.empty() && folder.empty()) {
    lib::log::error("-s needs -f FOLDER: maildirmake -s %s -f NAME %s", share.c_str(), dir.c_str());
    return 64;
  }
  if (!quota.empty()) {
    auto spec = lib::maildir::parse_quota_spec(quota);
    if (!spec) {
      lib::log::error("-q %s: %s", quota.c_str(), spec.error().message.c_str());
      return 64;
    }
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) {
      if (auto r = lib::maildir::create_maildir(dir); !r) {
        lib::log::error("%s", r.error().message.c_str());
        return 73;
      }
    }
    auto r = lib::maildir::set_quota(dir, *spec);
    if (!r) {
      lib::log::error("setting the quota of %s: %s", dir.c_str(), r.error().message.c_str());
      return 73;
    }
    return 0;
  }
  if (!folder.empty()) {
    if (folder.rfind("INBOX.", 0) == 0) folder = folder.substr(6);
    if (auto v = lib::maildir::validate_folder_name(folder); !v) {
      lib::log::error("folder name %s: %s", folder.c_str(), v.error().message.c_str());
      return 64;
    }
    mode_t mode = 0700;
    struct stat root_st;
    if (!share.empty() && ::stat(dir.c_str(), &root_st) == 0 && (root_st.st_mode & 0011) == 0)
      lib::log::warning("%s is not a sharable maildir (mode %03o): others cannot reach folder %s until you run "
                        "maildirmake -S %s", dir.c_str(), static_cast<unsigned>(root_st.st_mode & 0777),
                        folder.c_str(), dir.c_str());
    if (!share.empty()) {
      bool group = share.find(",group") != std::string::npos;
      std::string kind = share.substr(0, share.find(','));
      if (kind == "read") mode = group ? 0750 : 0755;
      else if (kind == "write") mode = group ? 01770 : 01777;
      else {
        lib::log::error("-s %s: use read, write, read,group or write,group", share.c_str());
        return 64;
      }
    }
    auto r = lib::maildir::create_folder(dir, folder, mode);
    if (!r) {
      lib::log::error("%s", r.error().message.c_str());
      return 73;
    }
    if (!*r) {
      lib::log::error("folder %s already exists in %s", folder.c_str(), dir.c_str());
      return 73;
    }
    if (!share.empty()) {  // create_folder honours the umask; shared folders need exactly this mode
      std::string path = lib::maildir::folder_path(dir, folder);
      for (const char* sub : {"", "/cur", "/new", "/tmp"}) ::chmod((path + sub).c_str(), mode);
    }
    return 0;
  }
  auto r = lib::maildir::create_maildir(dir, sharable ? 0755 : 0700);
  if (!r) {
    lib::log::error("%s", r.error().message.c_str());
    return 73;
  }
  if (sharable)
    for (const char* sub : {"", "/cur", "/new"}) ::chmod((dir + sub).c_str(), 0755);
  return 0;
}
