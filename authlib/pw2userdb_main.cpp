// authlib/pw2userdb_main.cpp: pw2userdb, prints /etc/passwd (with the
// passwords of /etc/shadow when it is readable) as userdb source lines on
// standard output (Courier's pw2userdb, makeuserdb(8)):
//   name<TAB>uid=N|gid=N|home=/h[|shell=/s][|systempw=hash][|gecos=text]
//   N=<TAB>name                  (reverse record, unless --nouid)
// Options, as Courier's script: --passwd=file, --shadow=file, --noshadow,
// --nouid, --domain=example.com (appends @example.com to every name),
// --vpopuid (uid and gid of the vpopmail account for everyone).
//
// Differences from Courier, so that the output always passes makeuserdb:
// entries in file order; a uid shared by several accounts gets one reverse
// record (the first account's); locked or disabled passwords ("*", "!...")
// are left out (the account cannot log in with a password either way);
// NIS "+"/"-" lines, entries with a relative home, a malformed uid or a
// character userdb cannot hold are skipped with a warning on standard error;
// "|" in GECOS becomes "." (as Courier), other control characters are dropped.
//
// Runs as root to read /etc/shadow; as anyone else it says the passwords are
// missing and why. Reads only local files given by the administrator.
#include <cerrno>
#include <cstdio>
#include <map>
#include <optional>
#include <pwd.h>
#include <set>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

#include "authlib/userdb_source.hpp"
#include "lib/config.hpp"

namespace {

namespace udb = authlib::userdb;

// /etc/passwd and /etc/shadow of a very large site stay far below this.
constexpr size_t max_passwd_bytes = 256 * 1024 * 1024;

int usage() {
  std::fputs("usage: pw2userdb [--passwd=file] [--shadow=file] [--noshadow] [--nouid] [--domain=domain] "
             "[--vpopuid]\n",
             stderr);
  return 1;
}

void warn(const std::string& text) { std::fprintf(stderr, "pw2userdb: warning: %s\n", text.c_str()); }

std::vector<std::string_view> split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  for (;;) {
    size_t at = line.find(sep, pos);
    out.push_back(line.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
    if (at == std::string_view::npos) return out;
    pos = at + 1;
  }
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  for (std::string_view line : split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
  }
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

bool usable_password(std::string_view p) {
  return !p.empty() && p != "x" && p != "*" && p.front() != '!' && p.find('|') == std::string_view::npos &&
         udb::field_problem("systempw", p).empty();
}

std::string clean_gecos(std::string_view g) {
  std::string out;
  for (char c : g) {
    if (c == '|')
      out += '.';
    else if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f)
      out += c;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string passwd_file = "/etc/passwd", shadow_file = "/etc/shadow", domain;
  bool noshadow = false, nouid = false, vpopuid = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value_of = [&](std::string_view opt) -> std::optional<std::string> {
      if (a.substr(0, opt.size()) == opt) return std::string(a.substr(opt.size()));
      return std::nullopt;
    };
    if (auto v = value_of("--passwd=")) {
      passwd_file = *v;
    } else if (auto s = value_of("--shadow=")) {
      shadow_file = *s;
    } else if (auto d = value_of("--domain=")) {
      domain = *d;
    } else if (a == "--noshadow") {
      noshadow = true;
    } else if (a == "--nouid") {
      nouid = true;
    } else if (a == "--vpopuid") {
      vpopuid = true;
    } else {
      return usage();
    }
  }
  if (!domain.empty()) {
    if (auto p = udb::address_problem("x@" + domain); !p.empty() || domain.find('@') != std::string::npos) {
      std::fprintf(stderr, "pw2userdb: --domain=%s is not a usable domain\n", domain.c_str());
      return 1;
    }
    domain = "@" + domain;
  }

  std::string fixed_uid, fixed_gid;
  if (vpopuid) {
    struct passwd* pw = ::getpwnam("vpopmail");
    if (!pw) {
      std::fputs("pw2userdb: --vpopuid: there is no vpopmail account\n", stderr);
      return 1;
    }
    fixed_uid = std::to_string(pw->pw_uid);
    fixed_gid = std::to_string(pw->pw_gid);
  }

  auto passwd = lib::read_small_file(passwd_file, max_passwd_bytes);
  if (!passwd) {
    std::fprintf(stderr, "pw2userdb: %s\n", passwd.error().message.c_str());
    return 1;
  }

  std::map<std::string, std::string, std::less<>> shadow_passwords;
  std::string shadow_text;
  if (!noshadow) {
    struct stat st;
    if (::stat(shadow_file.c_str(), &st) == 0) {
      auto shadow = lib::read_small_file(shadow_file, max_passwd_bytes);
      if (!shadow) {
        warn(shadow.error().message + "; passwords kept only in it are left out (run pw2userdb as root)");
      } else {
        shadow_text = std::move(shadow.value());
        for (std::string_view line : lines_of(shadow_text)) {
          if (line.empty() || line.front() == '#') continue;
          auto f = split(line, ':');
          if (f.size() >= 2) shadow_passwords[std::string(f[0])] = std::string(f[1]);
        }
      }
    }
  }

  std::string out;
  std::set<std::string, std::less<>> names;
  std::set<std::string, std::less<>> uids;
  int number = 0;
  for (std::string_view line : lines_of(passwd.value())) {
    ++number;
    const std::string where = passwd_file + ":" + std::to_string(number);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '+' || line.front() == '-') {
      warn(where + ": NIS entry skipped");
      continue;
    }
    auto f = split(line, ':');
    if (f.size() != 7) {
      warn(where + ": not a passwd entry (7 fields separated by \":\"); skipped");
      continue;
    }
    std::string name = std::string(f[0]) + domain;
    std::string uid = vpopuid ? fixed_uid : std::string(f[2]);
    std::string gid = vpopuid ? fixed_gid : std::string(f[3]);
    std::string home(f[5]), shell(f[6]);
    std::string problem = udb::address_problem(name);
    if (problem.empty()) problem = udb::field_problem("uid", uid);
    if (problem.empty()) problem = udb::field_problem("gid", gid);
    if (problem.empty()) problem = udb::field_problem("home", home);
    if (!problem.empty()) {
      warn(where + ": " + problem + "; skipped");
      continue;
    }
    if (!names.insert(name).second) {
      warn(where + ": " + name + " appears twice; the second entry is skipped");
      continue;
    }
    udb::Fields fields{{"uid", uid}, {"gid", gid}, {"home", home}};
    if (!shell.empty() && udb::field_problem("shell", shell).empty()) fields.push_back({"shell", shell});
    std::string password(f[1]);
    if (auto s = shadow_passwords.find(f[0]); s != shadow_passwords.end()) password = s->second;
    if (usable_password(password)) fields.push_back({"systempw", password});
    if (std::string gecos = clean_gecos(f[4]); !gecos.empty()) fields.push_back({"gecos", gecos});
    out += name + "\t" + udb::join_fields(fields) + "\n";
    if (!nouid && uids.insert(uid).second) out += uid + "=\t" + name + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fill(out.begin(), out.end(), '\0');
  std::fill(shadow_text.begin(), shadow_text.end(), '\0');
  if (std::fflush(stdout) != 0) {
    std::fprintf(stderr, "pw2userdb: cannot write to standard output: %s\n", lib::errno_text(errno).c_str());
    return 1;
  }
  return 0;
}
