// imapd/acl.cpp: ACL parsing, formatting and ACL2=UNION computation (see
// acl.hpp); no I/O here (the files are acl_files.cpp), so the fuzz target
// links this alone.
#include "imapd/acl.hpp"

#include <algorithm>

#include "authlib/account_options.hpp"

namespace imapd::acl {

Rights rights_of(std::string_view text) {
  Rights r = 0;
  for (char ch : text)
    if (ch >= 'a' && ch <= 'z') r |= bit(ch);
  return r;
}

std::string letters(Rights r) {
  std::string out;
  for (char ch = 'a'; ch <= 'z'; ++ch)
    if (has(r, ch)) out += ch;
  return out;
}

std::string wire_letters(Rights r) {
  if (has(r, 'c')) r |= bit('k');
  return letters(r);
}

bool parse_rights(std::string_view text, Rights& out, std::string& why) {
  Rights r = 0;
  for (char ch : text) {
    switch (ch) {
      case 'a': case 'c': case 'e': case 'i': case 'l': case 'p':
      case 'r': case 's': case 't': case 'w': case 'x':
        r |= bit(ch);
        break;
      case 'k':  // RFC 4314 2.1: create mailboxes; Courier's "c"
        r |= bit('c');
        break;
      case 'd':  // RFC 4314 2.1.1: the obsolete delete right
        r |= bit('x') | bit('t') | bit('e');
        break;
      default:
        why = std::string("\"") + (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? '?' : ch) +
              "\" is not a rights letter (RFC 4314: l r s w i k x t e a, and c d p)";
        return false;
    }
  }
  out = r;
  return true;
}

bool valid_identifier(std::string_view id) {
  if (id.empty() || id == "-") return false;
  return std::none_of(id.begin(), id.end(), [](char ch) { return static_cast<unsigned char>(ch) <= ' '; });
}

Entry* find(List& list, std::string_view identifier) {
  for (auto& e : list)
    if (e.identifier == identifier) return &e;
  return nullptr;
}

void set(List& list, std::string_view identifier, Rights rights) {
  if (Entry* e = find(list, identifier)) {
    e->rights = rights;
    return;
  }
  list.push_back({std::string(identifier), rights});
}

bool remove(List& list, std::string_view identifier) {
  auto it = std::find_if(list.begin(), list.end(), [&](const Entry& e) { return e.identifier == identifier; });
  if (it == list.end()) return false;
  list.erase(it);
  return true;
}

bool change(List& list, std::string_view identifier, std::string_view text, std::string& why) {
  char mode = 0;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    mode = text.front();
    text.remove_prefix(1);
  }
  Rights rights = 0;
  if (!parse_rights(text, rights, why)) return false;
  Entry* e = find(list, identifier);
  Rights now = e ? e->rights : 0;
  Rights next = mode == '+' ? (now | rights) : mode == '-' ? (now & ~rights) : rights;
  if (next == 0) remove(list, identifier);
  else set(list, identifier, next);
  return true;
}

List parse(std::string_view text, std::vector<std::string>& problems) {
  List list;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    std::size_t sp = line.find(' ');
    std::string_view id = line.substr(0, sp);
    std::string_view rights_text;
    if (sp != std::string_view::npos) {
      rights_text = line.substr(sp);
      while (!rights_text.empty() && rights_text.front() == ' ') rights_text.remove_prefix(1);
    }
    auto problem = [&](const std::string& what) {
      if (problems.size() < 20) problems.push_back("line " + std::to_string(line_no) + ": " + what);
    };
    if (!valid_identifier(id)) {
      problem("no usable identifier (it is empty or holds a control character)");
      continue;
    }
    Rights r = 0;
    std::string why;
    if (!parse_rights(rights_text, r, why)) {
      problem("identifier " + std::string(id) + ": " + why);
      continue;
    }
    set(list, id, r);
  }
  return list;
}

std::string format(const List& list) {
  std::string out;
  for (const auto& e : list) out += e.identifier + " " + letters(e.rights) + "\n";
  return out;
}

void add_default_admin(List& list) {
  const char* admin = find(list, "group=administrators") ? "group=administrators" : "administrators";
  Entry* e = find(list, admin);
  set(list, admin, all_rights() | (e ? e->rights : 0));
  remove(list, "-administrators");
  remove(list, "-group=administrators");
}

List default_inbox_acl() {
  List list{{"owner", all_rights()}};
  add_default_admin(list);
  return list;
}

bool Identity::administrator() const {
  return std::find(groups.begin(), groups.end(), "administrators") != groups.end();
}

namespace {

// Whether `identifier` (positive form) names the identity, as Courier's
// maildir_acl_computerights: anyone/anonymous name everybody; administrators
// and group=administrators are one group.
bool names(std::string_view identifier, const std::vector<std::string>& mine) {
  if (identifier == "anyone" || identifier == "anonymous") return true;
  if (identifier == "administrators" || identifier == "group=administrators")
    return std::find(mine.begin(), mine.end(), "administrators") != mine.end() ||
           std::find(mine.begin(), mine.end(), "group=administrators") != mine.end();
  return std::find(mine.begin(), mine.end(), identifier) != mine.end();
}

Rights compute_for(const List& list, const std::vector<std::string>& mine, bool owner_gets_admin) {
  Rights granted = 0, revoked = 0;
  for (const auto& e : list) {
    bool negative = e.identifier.front() == '-';
    std::string_view id = negative ? std::string_view(e.identifier).substr(1) : std::string_view(e.identifier);
    if (!names(id, mine)) continue;
    (negative ? revoked : granted) |= e.rights;
  }
  Rights r = granted & ~revoked;
  // Courier: the owner always keeps the right to administer.
  if (owner_gets_admin && std::find(mine.begin(), mine.end(), "owner") != mine.end()) r |= bit('a');
  return r;
}

}  // namespace

std::vector<std::string> groups_from_options(std::string_view options) {
  return authlib::account_option_values(options, "group");
}

Rights compute(const List& list, const Identity& who, std::string_view owner) {
  std::vector<std::string> mine{"user=" + who.login};
  if (who.login == owner) mine.emplace_back("owner");
  for (const auto& g : who.groups) mine.push_back("group=" + g);
  return compute_for(list, mine, true);
}

Rights compute_identifiers(const List& list, const std::vector<std::string>& identifiers) {
  return compute_for(list, identifiers, true);
}

std::string check_minimum_rights(const List& list, std::string_view owner_login) {
  const Rights la = bit('l') | bit('a');
  if ((compute_for(list, {"owner"}, false) & la) != la) return "owner";
  if (!owner_login.empty()) {
    std::vector<std::string> ids{"user=" + std::string(owner_login), "owner"};
    if ((compute_for(list, ids, false) & la) != la) return "user=" + std::string(owner_login);
  }
  if ((compute_for(list, {"administrators"}, false) & all_rights()) != all_rights()) return "administrators";
  return {};
}

}  // namespace imapd::acl
