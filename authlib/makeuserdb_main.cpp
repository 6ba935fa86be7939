// authlib/makeuserdb_main.cpp: makeuserdb [-f source], compiles the userdb
// source into userdb.dat and userdbshadow.dat (Courier's makeuserdb(8);
// format in authlib/userdb_source.hpp and doc/makeuserdb.8).
//
// Runs as root (or the owner of the userdb files), by hand or from
// authuserdb's password change. Reads the source, which only root should be
// able to write; refuses one with group or world permissions. A bad line
// is reported with file:line and nothing is replaced; the databases are
// built in temporary files and renamed into place, so authdaemond never
// sees half of one and needs no restart.
//
// The source is -f's argument, else $USERDB (our extension, for tests and
// the sandbox), else SYSCONFDIR/userdb. Exit status 0, or 1 with a message.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "authlib/userdb_source.hpp"

#ifndef SYSCONFDIR
#error "SYSCONFDIR must be defined by the build (-DSYSCONFDIR=\"/etc/courier\")"
#endif

namespace {

int usage() {
  std::fputs("usage: makeuserdb [-f source]\n"
             "  compiles source (default " SYSCONFDIR "/userdb, a file or a directory) into\n"
             "  source.dat and sourceshadow.dat\n",
             stderr);
  return 1;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "makeuserdb: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string source;
  if (const char* env = std::getenv("USERDB"); env && *env) source = env;
  if (source.empty()) source = SYSCONFDIR "/userdb";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-f" && i + 1 < argc) {
      source = argv[++i];
    } else if (arg.substr(0, 3) == "-f=" && arg.size() > 3) {
      source = std::string(arg.substr(3));
    } else {
      return usage();
    }
  }
  if (source.empty()) return usage();
  const authlib::userdb::Paths paths = authlib::userdb::paths_for(source);

  if (auto r = authlib::userdb::check_private(paths.source); !r) return fail(r.error().message);
  auto lock = authlib::userdb::FileLock::acquire(paths.build_lock());
  if (!lock) return fail(lock.error().message);

  auto parsed = authlib::userdb::read_source(paths.source);
  if (!parsed) {
    std::fprintf(stderr, "makeuserdb: %s\n", parsed.error().message.c_str());
    return fail("nothing was changed: fix the lines above, then run makeuserdb again");
  }
  for (const std::string& w : parsed->warnings) std::fprintf(stderr, "makeuserdb: warning: %s\n", w.c_str());

  auto build = authlib::userdb::Build::prepare(paths, *parsed);
  if (!build) return fail(build.error().message + "; nothing was changed");
  if (auto r = build->commit(); !r) return fail(r.error().message);

  const auto& counts = build->counts();
  std::string uid_records;
  if (counts.reverse)
    uid_records = ", " + std::to_string(counts.reverse) + " uid record" + (counts.reverse == 1 ? "" : "s");
  std::printf("makeuserdb: %zu account%s written to %s (%zu with passwords in %s)%s\n", counts.accounts,
              counts.accounts == 1 ? "" : "s", paths.dat().c_str(), counts.with_secrets,
              paths.shadow_dat().c_str(), uid_records.c_str());
  return 0;
}
