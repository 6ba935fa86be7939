// esmtpd/aliases.hpp: Courier's aliases (COURIER-COMPAT.md section 8), compiled by
// makealiases into aliases.dat, expanded by esmtpd at RCPT time (accept or refuse)
// and by courierd when it resolves recipients: both call expand(), a pure function
// over the compiled file, so they always agree.
//
// Source (a file, or a folder whose files are read in name order):
//   name: addr1, addr2            continuation lines start with blanks
//   name@domain: addr
//   name: :include:/abs/file      addresses from a file (commas or lines)
//   name: |/path/program args     delivered by courierd to a program
//   name: /abs/mailbox            delivered by courierd to a file or maildir
//   @domain: localuser            x@domain -> localuser-x (its .courier-x decides)
// Nested aliases are expanded at compile time (a loop is an error naming the chain
// and file:line); a recipient reached twice is listed once.
//
// aliases.dat: key = the alias, lower case ("name" for a local alias, "name@domain",
// "@domain"); value = the final targets separated by LF.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config.hpp"
#include "lib/result.hpp"

namespace esmtpd::aliases {

struct Compiled {
  std::map<std::string, std::vector<std::string>> entries;
};

// Compiles list entries (lib::read_list_source of the source). read_include reads an
// :include: file (lets tests and the fuzzer avoid the file system).
lib::Result<Compiled> compile(const std::vector<lib::ListEntry>& entries,
                              const std::function<lib::Result<std::string>(const std::string&)>& read_include);
// Reads the source (file or folder) and compiles it.
lib::Result<Compiled> compile_source(const std::string& source);
// Writes aliases.dat atomically (lib::DbBuilder).
lib::Result<void> write_dat(const Compiled& compiled, const std::string& dat_path);

// "key: target, target" lines, sorted, for makealiases -dump.
std::string dump(const Compiled& compiled);

using Lookup = std::function<lib::Result<std::optional<std::string>>(std::string_view key)>;

struct Expansion {
  bool found = false;                // an alias matched
  std::vector<std::string> targets;  // what the address becomes
};

// Expands one recipient address. local_domain says whether the address's domain is
// this host's (then a key without domain matches its local part). Tries, in order:
// "local@domain", "local" (local domains only), "@domain" (-> "user-local").
lib::Result<Expansion> expand(const Lookup& lookup, std::string_view address, bool local_domain);

}  // namespace esmtpd::aliases
