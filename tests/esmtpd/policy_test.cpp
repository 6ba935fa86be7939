// tests/esmtpd/policy_test.cpp: domains and bofh.
#include "esmtpd/policy.hpp"

#include <gtest/gtest.h>

#include "esmtpd/session.hpp"
#include "tests/lib/test_util.hpp"

using namespace esmtpd;

TEST(Policy, LocalsSyntax) {
  std::vector<std::string> l = {"!mail.example.com", ".example.com", "example.org"};
  EXPECT_TRUE(list_matches(l, "a.example.com"));
  EXPECT_FALSE(list_matches(l, "mail.example.com"));
  EXPECT_FALSE(list_matches(l, "example.com"));
  EXPECT_TRUE(list_matches(l, "EXAMPLE.org"));
}

TEST(Policy, Classify) {
  auto d = Domains::make("mx.example.net", {"example.org"}, {".backup.example"});
  EXPECT_EQ(*d.classify("mx.example.net"), DomainKind::local);
  EXPECT_EQ(*d.classify("example.org"), DomainKind::local);
  EXPECT_EQ(*d.classify("x.backup.example"), DomainKind::accepted);
  EXPECT_EQ(*d.classify("elsewhere.example"), DomainKind::foreign);
}

TEST(Policy, HostedDomainAloneIsAccepted) {  // COURIER-TRAPS 8
  testutil::TempDir t;
  {
    auto b = lib::DbBuilder::create(t / "hosteddomains.dat");
    ASSERT_TRUE(b);
    ASSERT_TRUE(b->put("example.test", "1"));
    ASSERT_TRUE(b->put("alias.test", "example.test"));
    ASSERT_TRUE(b->commit());
  }
  testutil::write_file(t / "me", "mx.example.net\n");
  auto d = Domains::load(t.path());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(*d->classify("Example.Test"), DomainKind::hosted);
  std::string canonical;
  EXPECT_EQ(*d->classify("alias.test", &canonical), DomainKind::hosted);
  EXPECT_EQ(canonical, "example.test");
  EXPECT_EQ(*d->classify("mx.example.net"), DomainKind::local);
  // Relaying is refused for foreign domains without RELAYCLIENT, allowed with it.
  RecipientPolicy p(std::move(*d), nullptr, t / "no-socket");
  EXPECT_EQ(p.check("x@foreign.example", false).code, 513);
  EXPECT_EQ(p.check("x@foreign.example", true).code, 250);
  // authdaemond down: a temporary failure, never a false "unknown user".
  EXPECT_EQ(p.check("x@example.test", false).code, 451);
}

TEST(Policy, Bofh) {
  auto b = parse_bofh("maxrcpts 20\nbadfrom @spam.example\nbadfrom joe@.bad.example\nspamtrap trap@me.example\n"
                      "freemail gmail.com\nopt BOFHCHECKHELO=1\n",
                      "bofh");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->maxrcpts, 20u);
  EXPECT_FALSE(b->maxrcpts_hard);
  EXPECT_TRUE(badfrom_matches(*b, "x@spam.example"));
  EXPECT_TRUE(badfrom_matches(*b, "joe@a.bad.example"));
  EXPECT_FALSE(badfrom_matches(*b, "ann@a.bad.example"));
  EXPECT_EQ(b->warnings.size(), 1u);
  EXPECT_FALSE(parse_bofh("maxrcpts lots\n", "bofh"));
  auto h = parse_bofh("maxrcpts 5 hard\n", "bofh");
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->maxrcpts_hard);
}
