// tests/authlib/chain_test.cpp: the module chain's semantics (authlib/chain.hpp).
#include "authlib/chain.hpp"

#include <gtest/gtest.h>
#include <map>

namespace {

using authlib::Account;
using authlib::ModuleReply;
using authlib::Outcome;

// A module with a fixed set of accounts and clear passwords.
class FakeModule : public authlib::Module {
 public:
  FakeModule(std::string name, std::map<std::string, std::string> passwords, bool down = false)
      : name_(std::move(name)), passwords_(std::move(passwords)), down_(down) {}

  std::string_view name() const override { return name_; }

  ModuleReply lookup(std::string_view user, std::string_view) override {
    ++lookups;
    if (down_) return ModuleReply::temporary("backend down");
    auto it = passwords_.find(std::string(user));
    if (it == passwords_.end()) return ModuleReply::reject("no such account");
    Account a;
    a.uid = 1000;
    a.gid = 1000;
    a.home = "/home/" + it->first;
    a.address = it->first;
    a.clear_password = lib::Secret(it->second);
    return ModuleReply::found(std::move(a));
  }

  authlib::ModuleReply change_password(std::string_view, std::string_view user, const lib::Secret& old_password,
                                       const lib::Secret& new_password) override {
    auto it = passwords_.find(std::string(user));
    if (it == passwords_.end() || !old_password.equals(it->second)) return ModuleReply::reject("wrong password");
    it->second = std::string(new_password.reveal());
    return ModuleReply::found({});
  }

  lib::Result<void> enumerate(const std::function<void(const Account&)>& fn) override {
    for (auto& [user, pw] : passwords_) fn(lookup(user, "").account);
    return {};
  }

  int lookups = 0;

 private:
  std::string name_;
  std::map<std::string, std::string> passwords_;
  bool down_;
};

std::string login_payload(const std::string& service, const std::string& user, const std::string& pw) {
  return service + "\nlogin\n" + user + "\n" + pw + "\n";
}

authlib::Chain make_chain(bool second_down = false, std::string default_options = "") {
  std::vector<std::unique_ptr<authlib::Module>> ms;
  ms.push_back(std::make_unique<FakeModule>("first", std::map<std::string, std::string>{{"alice", "apw"}}));
  ms.push_back(std::make_unique<FakeModule>("second", std::map<std::string, std::string>{{"bob", "bpw"}}, second_down));
  return authlib::Chain(std::move(ms), std::move(default_options));
}

TEST(Chain, FirstModuleAnswers) {
  auto chain = make_chain();
  auto r = chain.auth(login_payload("imap", "alice", "apw"));
  EXPECT_EQ(r.outcome, Outcome::ok);
  EXPECT_NE(r.reply.find("HOME=/home/alice\n"), std::string::npos);
  EXPECT_NE(r.summary.find("ok via first"), std::string::npos);
}

TEST(Chain, RejectionTriesTheNextModule) {
  auto chain = make_chain();
  auto r = chain.auth(login_payload("imap", "bob", "bpw"));
  EXPECT_EQ(r.outcome, Outcome::ok);
  EXPECT_NE(r.summary.find("ok via second"), std::string::npos);
}

TEST(Chain, WrongPasswordEverywhereIsFailWithReasons) {
  auto chain = make_chain();
  auto r = chain.auth(login_payload("imap", "alice", "nope"));
  EXPECT_EQ(r.outcome, Outcome::rejected);
  EXPECT_EQ(r.reply, "FAIL\n");
  EXPECT_NE(r.summary.find("first: wrong password"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("second: no such account"), std::string::npos) << r.summary;
  EXPECT_EQ(r.summary.find("nope"), std::string::npos) << "the password must not reach the log";
}

TEST(Chain, TemporaryFailureStopsTheChainWithNoReply) {
  auto chain = make_chain(/*second_down=*/true);
  auto r = chain.auth(login_payload("imap", "carol", "x"));
  EXPECT_EQ(r.outcome, Outcome::temporary);
  EXPECT_TRUE(r.reply.empty());
  EXPECT_NE(r.summary.find("backend down"), std::string::npos);
}

TEST(Chain, PreWithNamedModuleAsksOnlyThatOne) {
  auto chain = make_chain();
  EXPECT_EQ(chain.pre({"second", "imap", "alice"}).outcome, Outcome::rejected);
  EXPECT_EQ(chain.pre({"first", "imap", "alice"}).outcome, Outcome::ok);
  EXPECT_EQ(chain.pre({".", "imap", "bob"}).outcome, Outcome::ok);
  auto none = chain.pre({"authnothing", "imap", "alice"});
  EXPECT_EQ(none.outcome, Outcome::rejected);
  EXPECT_NE(none.summary.find("no module named authnothing"), std::string::npos);
}

TEST(Chain, DefaultOptionsFillAccountsWithout) {
  auto chain = make_chain(false, "disablewebmail=1");
  auto r = chain.pre({".", "imap", "alice"});
  EXPECT_NE(r.reply.find("OPTIONS=disablewebmail=1\n"), std::string::npos);
}

TEST(Chain, MalformedPayloadIsRejected) {
  auto chain = make_chain();
  EXPECT_EQ(chain.auth("imap\nlogin\nalice").outcome, Outcome::rejected);
  EXPECT_EQ(chain.auth("imap\nkerberos\nalice\nx\n").outcome, Outcome::rejected);
  EXPECT_EQ(chain.auth("").outcome, Outcome::rejected);
}

TEST(Chain, CramMd5AgainstClearPassword) {
  auto chain = make_chain();
  std::string challenge = "<1896.697170952@postoffice.reston.mci.net>";
  auto response = authlib::sasl::cram_client_response(authlib::sasl::CramHash::md5, "alice", lib::Secret("apw"), challenge);
  ASSERT_TRUE(response);
  std::string payload = "imap\ncram-md5\n" + authlib::sasl::encode_base64(challenge) + "\n" +
                        authlib::sasl::encode_base64(response->reveal()) + "\n";
  EXPECT_EQ(chain.auth(payload).outcome, Outcome::ok);
  auto wrong = authlib::sasl::cram_client_response(authlib::sasl::CramHash::md5, "alice", lib::Secret("bad"), challenge);
  payload = "imap\ncram-md5\n" + authlib::sasl::encode_base64(challenge) + "\n" +
            authlib::sasl::encode_base64(wrong->reveal()) + "\n";
  EXPECT_EQ(chain.auth(payload).outcome, Outcome::rejected);
}

TEST(Chain, PasswdAndEnumerate) {
  auto chain = make_chain();
  EXPECT_EQ(chain.passwd({"imap", "alice", lib::Secret("wrong"), lib::Secret("n")}).outcome, Outcome::rejected);
  auto ok = chain.passwd({"imap", "alice", lib::Secret("apw"), lib::Secret("new")});
  EXPECT_EQ(ok.outcome, Outcome::ok);
  EXPECT_EQ(ok.reply, "OK\n");
  EXPECT_EQ(chain.auth(login_payload("imap", "alice", "new")).outcome, Outcome::ok);

  std::string listed;
  auto r = chain.enumerate([&](std::string_view l) {
    listed += l;
    return true;
  });
  EXPECT_EQ(r.reply, ".\n");
  EXPECT_NE(listed.find("alice\t1000\t1000\t/home/alice"), std::string::npos);
  EXPECT_NE(listed.find("bob\t1000"), std::string::npos);
}

}  // namespace
