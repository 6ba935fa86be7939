// authlib/userdb_source.hpp: Courier's userdb text source and the two Berkeley
// DB files compiled from it (COURIER-COMPAT.md section 7; Courier's userdb(8),
// makeuserdb(8)). Shared by makeuserdb, userdb, pw2userdb, userdbpw,
// authpasswd and authuserdb (module_userdb.cpp).
//
// The source (@sysconfdir@/userdb) is a file, or a directory of files read in
// name order, recursively, under Courier's makedat rules. Each line is
//   address<TAB>field=value|field=value...     an account
//   <uid>=<TAB>name                            reverse record: uid -> account
//   # comment, or a blank line
// makeuserdb writes two hash databases, keyed by address:
//   userdb.dat        (mode 0644) fields whose name does not end in "pw", plus
//                     "_=<location>": the source file relative to the userdb
//                     directory with a trailing "/", "" for a plain file;
//                     reverse records map "1000=" to the account name;
//   userdbshadow.dat  (mode 0600) fields whose name ends in "pw" (systempw,
//                     imappw, hmac-md5pw...).
//
// Stricter than Courier, each with a file:line error instead of a database
// that silently says something else: a line without a tab or with two tabs,
// an empty address, a field without "=", an empty or repeated field, a value
// with "|" or a control character, a non-numeric uid/gid, a relative home,
// and an address defined twice (Courier's makedat fails on the duplicate key
// too, with no line number; here neither copy wins and nothing is replaced).
//
// SECURITY: the source and userdbshadow.dat hold password hashes. Every
// reader and writer here refuses a source with group or world permissions,
// as Courier's makeuserdb does; input sizes are bounded by the limits below.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "lib/dbfile.hpp"
#include "lib/result.hpp"
#include "lib/secret.hpp"
#include "lib/unique_fd.hpp"

namespace authlib::userdb {

// ---------------------------------------------------------------------------
// Limits against hostile or corrupt input.

inline constexpr size_t max_line_bytes = 64 * 1024;
inline constexpr size_t max_file_bytes = 64 * 1024 * 1024;      // one source file
inline constexpr size_t max_total_bytes = 1024 * 1024 * 1024;    // a whole directory
inline constexpr size_t max_files = 100000;                      // files in a directory tree
inline constexpr int max_directory_depth = 16;
inline constexpr size_t max_fields_per_record = 256;
inline constexpr size_t max_address_bytes = 512;
// Parse errors listed in one message; the rest are counted.
inline constexpr size_t max_errors_reported = 20;
// A password typed or piped into the tools (as sasl::max_password_bytes).
inline constexpr size_t max_password_bytes = 1024;

// ---------------------------------------------------------------------------
// Fields and names.

struct Field {
  std::string name;
  std::string value;
  bool operator==(const Field&) const = default;
};
using Fields = std::vector<Field>;

// Where a userdb lives: the source and the databases beside it, named as
// Courier names them (the source path plus ".dat", "shadow.dat").
struct Paths {
  std::string source;  // e.g. /etc/courier/userdb, without a trailing "/"

  std::string dat() const { return source + ".dat"; }
  std::string shadow_dat() const { return source + "shadow.dat"; }
  // makeuserdb's lock, held while the databases are rebuilt (Courier: userdb.lock).
  std::string build_lock() const { return source + ".lock"; }
};
// Paths for a source path; trailing slashes are removed ("userdb/" -> "userdb").
Paths paths_for(std::string_view source);

// Fields whose name ends in "pw" hold secrets and go to userdbshadow.dat.
bool is_shadow_field(std::string_view name) noexcept;
// Field names: one or more of [A-Za-z0-9_.-], and not "_" (makeuserdb's own).
bool valid_field_name(std::string_view name) noexcept;
// What is wrong with an address, "" if nothing: empty, too long, a control
// character or "|", a leading/trailing blank, or a trailing "=" that is not
// a reverse record "<digits>=".
std::string address_problem(std::string_view address);
// What is wrong with name=value as a field, "" if nothing: the name rules
// above, "|" or a control character in the value, a uid/gid that is not a
// number, a home that is not an absolute path.
std::string field_problem(std::string_view name, std::string_view value);
// Whether address is a reverse record key, "<digits>=".
bool is_reverse_key(std::string_view address) noexcept;

// The value of the first field named name, or nullopt.
std::optional<std::string_view> find_field(const Fields& fields, std::string_view name);
// "a=1|b=2".
std::string join_fields(const Fields& fields);
// Splits a database value "a=1|b|c=x=y" into fields, leniently (as Courier's
// userdb_get reads it): a field without "=" has an empty value, empty
// pieces are skipped. For .dat values only; the source parser is strict.
Fields split_fields(std::string_view value);

// What is wrong with a file or directory name inside a userdb directory that
// makeuserdb would skip or refuse (".x", "x~", "x.rpmnew", "x.dpkg-old",
// "x.dist"), "" if nothing. The userdb tool refuses to create such files.
std::string source_name_problem(std::string_view name);

// ---------------------------------------------------------------------------
// One source file, kept line by line so that editing it rewrites only the
// records that changed: comments, blank lines and the other records stay
// byte for byte (except that CR before LF is dropped).

enum class LineKind { other, account, reverse };

struct Line {
  LineKind kind = LineKind::other;
  int number = 0;             // 1-based line number in the file as read; 0 if added
  std::string text;           // the line as read, without its newline
  std::string address;        // account / reverse: the key ("john", "1000=")
  Fields fields;              // account
  std::string reverse_name;   // reverse: the account the uid maps to
  bool changed = false;       // text must be rebuilt from address/fields
};

class SourceFile {
 public:
  SourceFile() = default;

  // Parses text; name (a path) is used in messages. Errors: one permanent
  // error listing up to max_errors_reported lines "name:line: what; fix".
  static lib::Result<SourceFile> parse(std::string_view text, const std::string& name);
  // Reads and parses path; a missing file is an empty SourceFile (so that
  // "userdb addr set" can create it). Other read errors name the path.
  static lib::Result<SourceFile> load(const std::string& path);

  // The file's text, every line ended by "\n".
  std::string serialize() const;

  const std::string& name() const noexcept { return name_; }
  const std::vector<Line>& lines() const noexcept { return lines_; }
  // Things that are legal but probably not meant, "name:line: ...".
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }

  // The account or reverse record for address, or nullptr.
  const Line* find(std::string_view address) const;
  // Addresses of all records, in file order.
  std::vector<std::string> addresses() const;

  // Sets fields of the account address, replacing existing values in place
  // and adding new fields at the end; creates the record at the end of the
  // file when there is none. Errors (nothing changed): address_problem,
  // field_problem, a name given twice, too many fields, and a reverse key
  // "<uid>=" (use set_reverse).
  lib::Result<void> set(std::string_view address, const Fields& fields);
  // Sets the reverse record "<uid>=" -> account.
  lib::Result<void> set_reverse(std::string_view uid_key, std::string_view account);
  // Removes the named fields from address's record. Returns nullopt if there
  // is no such account record, else the names that were not there.
  std::optional<std::vector<std::string>> unset(std::string_view address,
                                                const std::vector<std::string>& names);
  // Removes address's record (account or reverse); false if there was none.
  bool remove(std::string_view address);

 private:
  Line* find_mutable(std::string_view address);

  std::string name_;
  std::vector<Line> lines_;
  std::vector<std::string> warnings_;
};

// ---------------------------------------------------------------------------
// The whole source: every record of every file.

struct Record {
  std::string address;
  Fields fields;              // account
  bool reverse = false;       // "<uid>=" record
  std::string reverse_name;   // reverse: the account
  std::string location;       // "_=" value: "" or "dir/sub/"
  std::string file;           // the file it came from (for messages)
  int line = 0;
};

struct Source {
  std::vector<Record> records;        // in the order read
  std::vector<std::string> warnings;  // for the admin; never fatal
  size_t files = 0;                   // files read
};

// Reads the source at path: a file, or a directory read recursively in name
// (byte) order, where names starting with "." or containing "~" are skipped,
// .rpmsave/.rpmnew/.dpkg-* files are an error, and X.dist is skipped when X
// exists and is newer, else an error (as Courier's makedat). overrides maps
// a file path (as built here: path + "/" + relative name) to text used
// instead of the file's content, so a caller can check an edit before
// writing it. Errors: every problem with file:line (up to
// max_errors_reported), duplicate addresses naming both places; unreadable
// files with the errno text. Warnings: records without home/uid/gid, upper
// case in addresses, reverse records naming no account, CR line ends.
lib::Result<Source> read_source(const std::string& path,
                                const std::map<std::string, std::string>& overrides = {});

// Refuses a source (file or directory) with group or world permissions, or
// one that is missing: the error names the path, its mode and the fix
// ("chmod 600 path"; "chmod 700" for a directory).
lib::Result<void> check_private(const std::string& path);

// ---------------------------------------------------------------------------
// Building userdb.dat and userdbshadow.dat.

struct BuildCounts {
  size_t accounts = 0;      // account records
  size_t with_secrets = 0;  // accounts with at least one *pw field
  size_t reverse = 0;       // reverse (uid) records
};

// Both databases, written to temporary files beside their final names.
// Destroying a Build without commit() removes the temporary files and leaves
// the old databases in place.
class Build {
 public:
  // Writes every record of source into the temporary files. Errors
  // (temporary: disk full, permissions) name the file and errno text.
  static lib::Result<Build> prepare(const Paths& paths, const Source& source);
  // Renames userdbshadow.dat, then userdb.dat into place (fsynced), so a
  // reader never sees half a database. A new account becomes visible only
  // once its password is in place.
  lib::Result<void> commit();
  const BuildCounts& counts() const noexcept { return counts_; }

 private:
  Build(lib::DbBuilder dat, lib::DbBuilder shadow, BuildCounts counts)
      : dat_(std::move(dat)), shadow_(std::move(shadow)), counts_(counts) {}
  lib::DbBuilder dat_;
  lib::DbBuilder shadow_;
  BuildCounts counts_;
};

// ---------------------------------------------------------------------------
// Files: locks and atomic rewrites.

// An exclusive flock(2) on a lock file (created mode 0600 if missing),
// released when destroyed.
class FileLock {
 public:
  // Waits for the lock: forever when timeout_ms is 0, else up to timeout_ms
  // (a temporary error then says who may hold it).
  static lib::Result<FileLock> acquire(const std::string& path, int timeout_ms = 0);

 private:
  explicit FileLock(lib::UniqueFd fd) : fd_(std::move(fd)) {}
  lib::UniqueFd fd_;
};

// The userdb tool's lock for editing file: "<dir>/.lock.<name>" (Courier's name).
std::string edit_lock_path(const std::string& file);

// Replaces path's content with text: writes "<dir>/.tmp.<name>", fsyncs it,
// renames it over path and fsyncs the directory. An existing file keeps its
// mode and (when run as root) its owner; a new file gets new_file_mode.
lib::Result<void> write_file_atomically(const std::string& path, std::string_view text,
                                        mode_t new_file_mode = 0600);

// ---------------------------------------------------------------------------
// Reading a password in the tools (userdbpw, authpasswd, userdb ... set f).

// Reads one line from standard input. When it is a terminal: writes prompt
// to standard error, turns echo off unless echo is true (restoring it even on
// SIGINT/SIGTERM/SIGHUP), and with confirm asks a second time ("Reenter
// password: ") until both match (3 tries). Otherwise reads one line without
// a prompt. The newline (and a CR before it) is removed. Errors: end of
// input before a line, a line over max_password_bytes, a NUL byte, the two
// entries not matching three times.
lib::Result<lib::Secret> read_secret_line(std::string_view prompt, bool confirm, bool echo = false);

}  // namespace authlib::userdb
