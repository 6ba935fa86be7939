// imapd/maildiracl_main.cpp: maildiracl, Courier's tool for the access control
// lists of a Maildir's folders (courierimapacl, courierimaphieracl/; see
// imapd/acl.hpp and doc/maildiracl.1).
// SECURITY: runs as whoever calls it (an admin or the account); reads and
// writes only the files of the maildir it is given.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/acl.hpp"
#include "imapd/folders.hpp"

namespace {

constexpr const char* usage =
    "Usage: maildiracl -reset maildir\n"
    "       maildiracl -list maildir INBOX[.folder]\n"
    "       maildiracl -set maildir INBOX[.folder] [-]identifier [+|-]rights\n"
    "       maildiracl -delete maildir INBOX[.folder] [-]identifier\n"
    "       maildiracl -compute maildir INBOX[.folder] identifier...\n"
    "\n"
    "Manages the access control lists of a Maildir's folders, as the IMAP server\n"
    "(IMAP_ACL=1) reads them. Identifiers: owner, anyone, anonymous, administrators,\n"
    "user=<login>, group=<name>; a leading - makes a negative entry. Rights letters\n"
    "(RFC 4314): l lookup, r read, s keep seen, w write flags, i insert, c (or k)\n"
    "create subfolders, x delete folder, t delete messages, e expunge, a administer.\n"
    "-set with +rights adds, -rights removes, rights alone replaces. -compute prints\n"
    "the rights the identifiers together have (ACL2=UNION). -reset removes stale\n"
    "courierimaphieracl entries. See maildiracl(1).\n";

int fail(const std::string& what) {
  std::fprintf(stderr, "maildiracl: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(usage, args.empty() ? stderr : stdout);
    return args.empty() ? 64 : 0;
  }
  const std::string& op = args[0];
  if (op == "-reset") {
    if (args.size() != 2) return std::fputs(usage, stderr), 64;
    auto r = imapd::acl::reset(args[1]);
    if (!r) return fail(r.error().message);
    for (const auto& n : *r) std::printf("removed stale courierimaphieracl/%s\n", n.c_str());
    return 0;
  }
  if (args.size() < 3) return std::fputs(usage, stderr), 64;
  const std::string& maildir = args[1];
  std::string why;
  auto folder = imapd::resolve_mailbox(args[2], why);
  if (!folder) return fail("folder \"" + args[2] + "\": " + why + " (write INBOX or INBOX.name)");
  auto list = imapd::acl::read(maildir, folder->folder);
  if (!list) return fail(list.error().message);
  if (op == "-list" && args.size() == 3) {
    std::fputs(imapd::acl::format(*list).c_str(), stdout);
    return 0;
  }
  if (op == "-compute" && args.size() >= 4) {
    std::vector<std::string> ids(args.begin() + 3, args.end());
    std::printf("%s\n", imapd::acl::letters(imapd::acl::compute_identifiers(*list, ids)).c_str());
    return 0;
  }
  if ((op == "-set" && args.size() == 5) || (op == "-delete" && args.size() == 4)) {
    const std::string& id = args[3];
    if (!imapd::acl::valid_identifier(id)) return fail("invalid identifier \"" + id + "\"");
    if (op == "-delete") {
      imapd::acl::remove(*list, id);
    } else {
      if (!imapd::acl::change(*list, id, args[4], why)) return fail("rights \"" + args[4] + "\": " + why);
    }
    auto w = imapd::acl::write(maildir, folder->folder, *list, "");
    if (!w) return fail(folder->imap_name + ": " + w.error().message);
    return 0;
  }
  std::fputs(usage, stderr);
  return 64;
}
