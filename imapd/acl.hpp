// imapd/acl.hpp: access control lists as Courier keeps them (RFC 4314 rights,
// ACL2=UNION), shared by imapd and maildiracl.
//
// Storage (COURIER-COMPAT.md, "courierimapacl"): a folder's ACL is the file
// courierimapacl in its directory (INBOX: the maildir root); a folder that
// exists only as the parent of subfolders keeps it in
// <maildir>/courierimaphieracl/<folder>. Lines are "identifier rights", the
// rights letters sorted. A folder without either file inherits its parent's
// ACL; INBOX without one has "owner" and "administrators" with every right.
//
// Identifiers: owner, anyone, anonymous, administrators, user=<login>,
// group=<name>; "-identifier" takes rights away. Rights of an identity
// (ACL2=UNION): the union of the rights of every identifier that names it,
// minus the union of the negative entries that name it; "anyone" and
// "anonymous" name everybody; "owner" names the folder's owner, who always
// keeps "a"; the administrators group (account option group=administrators)
// always has every right.
//
// Letters kept on disk are Courier's: a c e i l r s t w x (and p). RFC 4314's
// "k" (create) is stored as Courier's "c"; the obsolete "d" means x, t and e.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace imapd::acl {

// A set of rights letters, one bit per letter 'a'..'z'.
using Rights = std::uint32_t;

inline constexpr std::string_view all_letters = "aceilrstwx";  // Courier's ACL_ALL
inline constexpr std::string_view file_name = "courierimapacl";
inline constexpr std::string_view hier_dir_name = "courierimaphieracl";

constexpr Rights bit(char letter) { return Rights{1} << (letter - 'a'); }
Rights rights_of(std::string_view letters);  // letters outside a-z are ignored
constexpr Rights all_rights() {
  Rights r = 0;
  for (char ch : all_letters) r |= bit(ch);
  return r;
}
inline bool has(Rights r, char letter) { return (r & bit(letter)) != 0; }
// The letters, sorted (the form written to files).
std::string letters(Rights r);
// For ACL and MYRIGHTS responses: the stored letters plus RFC 4314's "k"
// when "c" is there (they are one right here).
std::string wire_letters(Rights r);

// Rights letters as a client (SETACL) or a file writes them: "k" becomes "c",
// "d" becomes "xte". False with `why` for a character that is no right.
bool parse_rights(std::string_view text, Rights& out, std::string& why);

struct Entry {
  std::string identifier;  // "-" prefix: negative
  Rights rights = 0;
};
using List = std::vector<Entry>;

// An identifier Courier accepts: not empty, no byte at or below a space.
bool valid_identifier(std::string_view id);

// Parses a courierimapacl file. Lines that cannot be used (no rights, bad
// identifier, unknown letters) are skipped and described in `problems`
// ("line N: ..."). Later lines for the same identifier replace earlier ones.
List parse(std::string_view text, std::vector<std::string>& problems);
std::string format(const List& list);

// Courier's fix-up after reading: the administrators entry (or
// group=administrators when present) gets every right; negative entries for
// them are dropped.
void add_default_admin(List& list);
// INBOX's ACL when it has no file.
List default_inbox_acl();

Entry* find(List& list, std::string_view identifier);
void set(List& list, std::string_view identifier, Rights rights);  // replaces or appends
bool remove(List& list, std::string_view identifier);              // false: was not there
// SETACL's and maildiracl -set's change: "+rights" adds, "-rights" removes,
// "rights" replaces; an entry left with no rights is removed. False with
// `why` (nothing changed) when the rights do not parse.
bool change(List& list, std::string_view identifier, std::string_view rights_text, std::string& why);

// Who is asking: the login and the groups of the account's group= options.
struct Identity {
  std::string login;
  std::vector<std::string> groups;
  bool administrator() const;
};
// Groups from an OPTIONS string ("group=a,disableshared,group=b").
std::vector<std::string> groups_from_options(std::string_view options);

// Rights of `who` on a folder with ACL `list` owned by `owner` (the owner's
// login). ACL2=UNION as above.
Rights compute(const List& list, const Identity& who, std::string_view owner);
// Rights of a list of identifiers (maildiracl -compute): each identifier as
// written in ACLs; "owner" among them gets the owner's "a".
Rights compute_identifiers(const List& list, const std::vector<std::string>& identifiers);

// Courier's checks before a write: "owner" keeps "l" and "a", the owner's
// login too, administrators keep every right. Empty when fine, else the
// identifier that would lose them.
std::string check_minimum_rights(const List& list, std::string_view owner_login);

// --- files (acl_files.cpp) --------------------------------------------------

// The ACL of `folder` ("" = INBOX, else the Maildir++ name without the
// leading dot) in `maildir`, inherited as described above. A file with
// unusable lines is logged (WARN, naming the file, the line and the fix);
// one with no usable line counts as missing. Error: a file that exists but
// cannot be read (errno text and path in the message).
lib::Result<List> read(const std::string& maildir, const std::string& folder);

// Writes `folder`'s ACL (with add_default_admin, after check_minimum_rights) through a temporary
// file and rename: courierimapacl in the folder's directory when it exists,
// else courierimaphieracl/<folder>.
lib::Result<void> write(const std::string& maildir, const std::string& folder, const List& list,
                        std::string_view owner_login);

// Removes the folder's ACL files (after DELETE of the folder).
void remove_files(const std::string& maildir, const std::string& folder);

// Removes courierimaphieracl entries for folders that no longer have
// subfolders (maildiracl -reset); returns the names removed.
lib::Result<std::vector<std::string>> reset(const std::string& maildir);

}  // namespace imapd::acl
