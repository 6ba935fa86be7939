// tests/maildrop/dot_courier_test.cpp: which .courier file applies to an
// extension, and how its lines are read.
#include "maildrop/dot_courier.hpp"

#include <gtest/gtest.h>

namespace maildrop {
namespace {

TEST(DotCourier, Candidates) {
  EXPECT_EQ(dot_courier_candidates(""), std::vector<std::string>{".courier"});
  EXPECT_EQ(dot_courier_candidates("Lists"), (std::vector<std::string>{".courier-lists", ".courier-default"}));
  EXPECT_EQ(dot_courier_candidates("a-b.c"),
            (std::vector<std::string>{".courier-a-b:c", ".courier-a-default", ".courier-default"}));
}

TEST(DotCourier, ParsesEveryKindOfLine) {
  auto r = parse_dot_courier("# comment\n\n./Maildir/\n/var/mail/x\n| /usr/bin/prog \\\n  --arg\n&a@b, !c@d ,e@f\n");
  ASSERT_TRUE(std::holds_alternative<std::vector<DotCourierLine>>(r));
  auto& l = std::get<std::vector<DotCourierLine>>(r);
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0].kind, DotCourierLine::Kind::mailbox);
  EXPECT_EQ(l[0].text, "./Maildir/");
  EXPECT_EQ(l[1].text, "/var/mail/x");
  EXPECT_EQ(l[2].kind, DotCourierLine::Kind::program);
  EXPECT_EQ(l[2].text, "/usr/bin/prog   --arg");
  EXPECT_EQ(l[2].line, 5);
  EXPECT_EQ(l[3].kind, DotCourierLine::Kind::forward);
  EXPECT_EQ(l[3].addresses, (std::vector<std::string>{"a@b", "c@d", "e@f"}));
}

TEST(DotCourier, CommentsOnlyMeansDiscard) {
  auto r = parse_dot_courier("# nothing here\n");
  ASSERT_TRUE(std::holds_alternative<std::vector<DotCourierLine>>(r));
  EXPECT_TRUE(std::get<std::vector<DotCourierLine>>(r).empty());
}

TEST(DotCourier, DynamicAndErrors) {
  auto ok = parse_dot_courier("./Maildir\n|| /usr/bin/rules --for x\n");
  ASSERT_TRUE(std::holds_alternative<std::vector<DotCourierLine>>(ok));
  auto& l = std::get<std::vector<DotCourierLine>>(ok);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[1].kind, DotCourierLine::Kind::dynamic);
  EXPECT_EQ(l[1].text, "/usr/bin/rules --for x");
  auto r = parse_dot_courier("./Maildir\n||\n");
  ASSERT_TRUE(std::holds_alternative<DotCourierParseError>(r));
  EXPECT_EQ(std::get<DotCourierParseError>(r).line, 2);
  r = parse_dot_courier("|\n");
  ASSERT_TRUE(std::holds_alternative<DotCourierParseError>(r));
  r = parse_dot_courier(",\n");
  ASSERT_TRUE(std::holds_alternative<DotCourierParseError>(r));
}

}  // namespace
}  // namespace maildrop
