// tests/fuzz/fuzz_imap_acl.cpp: libFuzzer target for the courierimapacl
// parser and ACL2=UNION computation (imapd/acl.hpp), and the shared index
// parser (imapd/shared_virtual.hpp).
// Invariants: parsed identifiers are valid and unique; rights are within the
// letters a file may hold; format() re-parses to the same list with no
// problems; the owner always has "a"; computed rights of anyone are a subset
// of the union of the list's rights plus the owner's "a"; index lines have a
// name and either a home or an include.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "imapd/acl.hpp"
#include "imapd/shared_virtual.hpp"
#include "tests/fuzz/invariant_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> problems;
  auto list = imapd::acl::parse(text, problems);
  const imapd::acl::Rights allowed = imapd::acl::rights_of("aceilprstwx");
  std::set<std::string> ids;
  imapd::acl::Rights any = 0;
  for (const auto& e : list) {
    CHECK(imapd::acl::valid_identifier(e.identifier));
    CHECK(ids.insert(e.identifier).second);
    CHECK((e.rights & ~allowed) == 0);
    any |= e.rights;
  }
  std::vector<std::string> again_problems;
  auto again = imapd::acl::parse(imapd::acl::format(list), again_problems);
  CHECK(again_problems.empty());
  CHECK(imapd::acl::format(again) == imapd::acl::format(list));
  auto owner = imapd::acl::compute(list, {"alice", {"team"}}, "alice");
  CHECK(imapd::acl::has(owner, 'a'));
  auto other = imapd::acl::compute(list, {"bob", {"team", "administrators"}}, "alice");
  CHECK((other & ~any) == 0);
  imapd::acl::add_default_admin(list);
  CHECK(imapd::acl::find(list, "-administrators") == nullptr);
  std::vector<std::string> index_problems;
  for (const auto& l : imapd::shared::parse_index(text, index_problems)) {
    CHECK(!l.name.empty());
    CHECK(!l.home.empty() || !l.include.empty());
  }
  return 0;
}
