// authlib/userdb_main.cpp: the userdb command, which edits the userdb text
// source one record at a time (Courier's userdb(8)):
//   userdb [path/]addr set field=value ...     (field alone: read the value)
//   userdb [path/]addr unset field ...
//   userdb [path/]addr del
//   userdb -f file addr set|unset|del ...
//   userdb -show [path | -f file] [addr]
//   userdb <uid>= set account                  (reverse record)
// A field given without "=value" is read from standard input: prompted for
// on a terminal (without echo for fields ending in "pw"), else one line, so
// that `userdbpw | userdb addr set systempw` works.
//
// Runs as root (or the owner of the userdb files). The userdb is $USERDB
// (our extension, for tests and the sandbox), else SYSCONFDIR/userdb.
// Refuses a source with group or world permissions. Each edit holds
// "<dir>/.lock.<file>", writes "<dir>/.tmp.<file>" and renames it into
// place, keeping the file's mode. The databases change only when makeuserdb
// runs, which this command reminds of after every edit.
// Exit status 0, or 1 with a message.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

#include "authlib/userdb_source.hpp"

#ifndef SYSCONFDIR
#error "SYSCONFDIR must be defined by the build (-DSYSCONFDIR=\"/etc/courier\")"
#endif

namespace {

namespace udb = authlib::userdb;

int usage() {
  std::fputs("usage: userdb [path/]addr set field=value ...   (field alone: read its value from stdin)\n"
             "       userdb [path/]addr unset field ...\n"
             "       userdb [path/]addr del\n"
             "       userdb -f file addr set|unset|del ...\n"
             "       userdb -show [path | -f file] [addr]\n"
             "       userdb <uid>= set account                 (reverse record)\n",
             stderr);
  return 1;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "userdb: %s\n", message.c_str());
  return 1;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Checks "a/b" (a path inside the userdb directory) component by component.
std::string relative_path_problem(std::string_view path) {
  if (path.empty()) return "empty path before the address";
  if (path.front() == '/') return "the path before the address must be relative to the userdb directory";
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    std::string_view part = path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (auto p = udb::source_name_problem(part); !p.empty()) return p;
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return {};
}

struct Target {
  std::string file;      // the source file to read or edit
  std::string root;      // the userdb (file or directory) whose mode is checked; "" with -f
  std::string address;   // may be empty for -show
};

// "path/addr" or "addr" relative to root; see Courier's userdb(8).
std::optional<std::string> resolve(const std::string& root, std::string_view arg, Target& t) {
  t.root = root;
  auto slash = arg.rfind('/');
  if (slash == std::string_view::npos) {
    if (is_directory(root))
      return root + " is a directory: name the file the account belongs in, e.g. userdb default/" +
             std::string(arg) + " ..., or use -f file";
    t.file = root;
    t.address = std::string(arg);
    return std::nullopt;
  }
  std::string_view path = arg.substr(0, slash);
  if (auto p = relative_path_problem(path); !p.empty()) return p;
  if (!is_directory(root))
    return std::string(arg) + " names a file inside the userdb directory, but " + root +
           " is not a directory; create it with: mkdir -m 700 " + root;
  t.file = root + "/" + std::string(path);
  t.address = std::string(arg.substr(slash + 1));
  auto parent = t.file.substr(0, t.file.rfind('/'));
  if (!is_directory(parent)) return "the directory " + parent + " does not exist: create it with mkdir -m 700 " + parent;
  return std::nullopt;
}

int show(const std::string& root, std::vector<std::string> args) {
  Target t;
  if (!args.empty() && args[0] == "-f") {
    if (args.size() < 2 || args.size() > 3) return usage();
    t.file = args[1];
    if (args.size() == 3) t.address = args[2];
  } else if (args.size() == 2) {
    if (auto p = resolve(root, args[0] + "/" + args[1], t)) return fail(*p);
  } else if (args.size() == 1) {
    const std::string& a = args[0];
    if (a.find('/') != std::string::npos) {
      if (auto p = resolve(root, a, t)) return fail(*p);
    } else if (is_directory(root)) {
      if (auto p = relative_path_problem(a); !p.empty()) return fail(p);
      t.root = root;
      t.file = root + "/" + a;
    } else {
      t.root = root;
      t.file = root;
      t.address = a;
    }
  } else if (args.empty()) {
    if (is_directory(root))
      return fail(root + " is a directory: name one of its files, e.g. userdb -show default");
    t.root = root;
    t.file = root;
  } else {
    return usage();
  }
  if (!exists(t.file)) return fail(t.file + " does not exist");
  if (!t.root.empty())
    if (auto r = udb::check_private(t.root); !r) return fail(r.error().message);
  if (auto r = udb::check_private(t.file); !r) return fail(r.error().message);
  auto file = udb::SourceFile::load(t.file);
  if (!file) return fail(file.error().message);
  std::string out;
  if (t.address.empty()) {
    for (const std::string& a : file->addresses()) out += a + "\n";
  } else {
    const udb::Line* line = file->find(t.address);
    if (!line) return fail("no record for " + t.address + " in " + t.file);
    if (line->kind == udb::LineKind::reverse) {
      out = line->reverse_name + "\n";
    } else {
      for (const udb::Field& f : line->fields) out += f.name + "=" + f.value + "\n";
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : fail("cannot write to standard output");
}

int edit(const std::string& root, std::vector<std::string> args) {
  Target t;
  if (!args.empty() && args[0] == "-f") {
    if (args.size() < 4) return usage();
    t.file = args[1];
    t.address = args[2];
    args.erase(args.begin(), args.begin() + 3);
  } else {
    if (args.size() < 2) return usage();
    if (auto p = resolve(root, args[0], t)) return fail(*p);
    args.erase(args.begin());
  }
  const std::string verb = args[0];
  args.erase(args.begin());
  if (auto p = udb::address_problem(t.address); !p.empty()) return fail(p);
  const bool reverse = udb::is_reverse_key(t.address);

  // Check, then proceed: every argument is validated (and every missing
  // value read) before the file is touched.
  udb::Fields fields;
  std::vector<std::string> names;
  std::string reverse_target;
  if (verb == "set") {
    if (args.empty()) return usage();
    if (reverse) {
      if (args.size() != 1) return fail("a reverse record takes one account name: userdb " + t.address + " set account");
      reverse_target = args[0];
    } else {
      for (const std::string& arg : args) {
        auto eq = arg.find('=');
        udb::Field f;
        if (eq == std::string::npos) {
          f.name = arg;
          if (!udb::valid_field_name(f.name))
            return fail(udb::field_problem(f.name, ""));
          auto value = udb::read_secret_line(t.address + "." + f.name + ": ", false, !udb::is_shadow_field(f.name));
          if (!value) return fail("the value of " + f.name + ": " + value.error().message);
          f.value = std::string(value->reveal());
        } else {
          f.name = arg.substr(0, eq);
          f.value = arg.substr(eq + 1);
        }
        if (auto p = udb::field_problem(f.name, f.value); !p.empty()) return fail(p);
        fields.push_back(std::move(f));
      }
    }
  } else if (verb == "unset") {
    if (args.empty() || reverse) return usage();
    for (const std::string& name : args) {
      if (!udb::valid_field_name(name)) return fail(udb::field_problem(name, ""));
      names.push_back(name);
    }
  } else if (verb == "del") {
    if (!args.empty()) return usage();
  } else {
    return usage();
  }

  if (!t.root.empty() && exists(t.root))
    if (auto r = udb::check_private(t.root); !r) return fail(r.error().message);
  if (exists(t.file))
    if (auto r = udb::check_private(t.file); !r) return fail(r.error().message);

  auto lock = udb::FileLock::acquire(udb::edit_lock_path(t.file));
  if (!lock) return fail(lock.error().message);
  auto file = udb::SourceFile::load(t.file);
  if (!file) return fail(file.error().message + "\nuserdb: nothing was changed: fix " + t.file + " first");

  std::string done;
  if (verb == "set") {
    auto r = reverse ? file->set_reverse(t.address, reverse_target) : file->set(t.address, fields);
    if (!r) return fail(r.error().message);
    done = "set";
  } else if (verb == "unset") {
    auto absent = file->unset(t.address, names);
    if (!absent) {
      std::fprintf(stderr, "userdb: there is no account %s in %s: nothing to unset\n", t.address.c_str(),
                   t.file.c_str());
      return 0;
    }
    for (const std::string& n : *absent)
      std::fprintf(stderr, "userdb: %s had no field %s\n", t.address.c_str(), n.c_str());
    if (absent->size() == names.size()) return 0;
    done = "updated";
  } else {
    if (!file->remove(t.address)) {
      std::fprintf(stderr, "userdb: there is no record %s in %s: nothing to delete\n", t.address.c_str(),
                   t.file.c_str());
      return 0;
    }
    done = "deleted";
  }
  std::string text = file->serialize();
  auto written = udb::write_file_atomically(t.file, text, 0600);
  for (udb::Field& f : fields) std::fill(f.value.begin(), f.value.end(), '\0');
  std::fill(text.begin(), text.end(), '\0');
  if (!written) return fail(written.error().message);
  std::fprintf(stderr, "userdb: %s %s in %s; run makeuserdb to make the change take effect\n", t.address.c_str(),
               done.c_str(), t.file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string root;
  if (const char* env = std::getenv("USERDB"); env && *env) root = env;
  if (root.empty()) root = SYSCONFDIR "/userdb";
  root = udb::paths_for(root).source;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help") return usage();
  if (args[0] == "-show") return show(root, std::vector<std::string>(args.begin() + 1, args.end()));
  return edit(root, std::move(args));
}
