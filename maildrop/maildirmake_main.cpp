// maildrop/maildirmake_main.cpp: maildirmake(1), Courier's tool to make a
// maildir, a Maildir++ folder or a quota.
//
//   maildirmake [-S] DIR                     a maildir (-S: sharable)
//   maildirmake [-s read|write[,group]] -f FOLDER DIR   a folder of DIR
//   maildirmake -q QUOTA DIR                  set the Maildir++ quota
//
// SECURITY: runs as the caller; creates only what it is told to.
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"

namespace {
constexpr const char* usage_text =
    "usage: maildirmake [-S] [-q QUOTA] [-f FOLDER [-s read|write[,group]]] MAILDIR\n"
    "  MAILDIR alone    makes the maildir (cur/ new/ tmp/), repairing a partial one\n"
    "  -f FOLDER        makes the Maildir++ folder MAILDIR/.FOLDER instead\n"
    "  -q QUOTA         sets the quota, e.g. 5000000S,1000C (bytes, messages)\n"
    "  -S               makes a sharable maildir (readable by others)\n"
    "  -s MODE          with -f: a shared folder, read (others read) or write (others\n"
    "                   write, sticky), ',group' limits it to the group\n"
    "See maildirmake(1).\n";
}

int main(int argc, char** argv) {
  lib::log::Options lo;
  lib::log::open("maildirmake", lo);
  std::string folder, quota, share;
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
