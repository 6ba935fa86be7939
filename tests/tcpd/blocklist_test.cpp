// tests/tcpd/blocklist_test.cpp: what DNS access list answers set.
#include "tcpd/blocklist.hpp"

#include <gtest/gtest.h>

namespace tcpd {
namespace {

BlocklistSpec spec(const char* value, bool allow) {
  auto s = parse_blocklist_spec(value, allow);
  EXPECT_TRUE(s) << value;
  return s ? *s : BlocklistSpec{};
}

DnsAnswer answer_a(std::vector<std::array<uint8_t, 4>> a, std::vector<std::string> txt = {}) {
  DnsAnswer ans;
  ans.status = DnsAnswer::Status::ok;
  ans.a = std::move(a);
  ans.txt = std::move(txt);
  return ans;
}

TEST(BlocklistTest, Table) {
  struct Case {
    const char* label;
    const char* option;
    bool allow;
    DnsAnswer answer;
    EnvVars before;
    bool matched;
    EnvVars after;
  } cases[] = {
      {"plain block", "bl.example", false, answer_a({{127, 0, 0, 2}}), {}, true,
       {{"BLOCK", "Blacklisted by bl.example"}, {"BLOCK_IP", "127.0.0.2"}, {"BLOCK_ZONE", "bl.example"}}},
      {"custom message with @", "bl.example,BLOCK,550 @ is listed", false, answer_a({{127, 0, 0, 2}}), {}, true,
       {{"BLOCK", "550 192.0.2.1 is listed"}, {"BLOCK_IP", "127.0.0.2"}, {"BLOCK_ZONE", "bl.example"}}},
      {"txt only", "bl.example,BLOCK,*", false, [] {
         DnsAnswer a;
         a.status = DnsAnswer::Status::ok;
         a.txt = {"Listed\x01 here"};
         return a;
       }(),
       {}, true, {{"BLOCK", "Listed  here"}, {"BLOCK_TXT", "Listed  here"}, {"BLOCK_ZONE", "bl.example"}}},
      {"wanted address matches", "bl.example/127.0.0.4", false, answer_a({{127, 0, 0, 2}, {127, 0, 0, 4}}), {},
       true,
       {{"BLOCK", "Blacklisted by bl.example"}, {"BLOCK_IP", "127.0.0.4"}, {"BLOCK_ZONE", "bl.example"}}},
      {"wanted address missing", "bl.example/127.0.0.4", false, answer_a({{127, 0, 0, 2}}), {}, false, {}},
      {"already set is skipped", "bl.example", false, answer_a({{127, 0, 0, 2}}), {{"BLOCK", ""}}, false,
       {{"BLOCK", ""}}},
      {"allow sets empty", "wl.example=White", true, answer_a({{127, 0, 0, 2}}), {}, true,
       {{"BLOCK", ""}, {"ALLOW_0", "BLOCK"}, {"BLOCK_IP", "127.0.0.2"}, {"BLOCK_ZONE", "White"}}},
      {"custom variable", "bl.example,BL2", false, answer_a({{127, 0, 0, 9}}), {}, true,
       {{"BL2", "Blacklisted by bl.example"}, {"BL2_IP", "127.0.0.9"}, {"BL2_ZONE", "bl.example"}}},
      {"not listed", "bl.example", false, [] {
         DnsAnswer a;
         a.status = DnsAnswer::Status::not_found;
         return a;
       }(),
       {}, false, {}},
      {"timeout sets nothing", "bl.example", false, DnsAnswer{}, {}, false, {}},
  };
  for (auto& c : cases) {
    EnvVars vars = c.before;
    int allow_count = 0;
    bool m = apply_blocklist_answer(spec(c.option, c.allow), c.answer, "192.0.2.1", vars, allow_count);
    EXPECT_EQ(m, c.matched) << c.label;
    EXPECT_EQ(vars, c.after) << c.label;
  }
}

TEST(BlocklistTest, FirstListWinsForSameVariable) {
  EnvVars vars;
  int allow_count = 0;
  auto wl = spec("wl.example", true);
  auto bl = spec("bl.example", false);
  EXPECT_TRUE(apply_blocklist_answer(wl, answer_a({{127, 0, 0, 2}}), "192.0.2.1", vars, allow_count));
  EXPECT_FALSE(apply_blocklist_answer(bl, answer_a({{127, 0, 0, 2}}), "192.0.2.1", vars, allow_count));
  EXPECT_EQ(vars.at("BLOCK"), "");
  EXPECT_EQ(blocklist_query_type(bl), dns_type_a);
  EXPECT_EQ(blocklist_query_type(spec("bl.example,BLOCK,*", false)), dns_type_txt);
}

}  // namespace
}  // namespace tcpd
