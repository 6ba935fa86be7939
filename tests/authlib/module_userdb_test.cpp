// tests/authlib/module_userdb_test.cpp: authuserdb against .dat files built
// in a temporary folder: lookups, per-service and CRAM passwords, a missing,
// corrupt or replaced database, enumeration and password changes.
#include "authlib/module_userdb.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "authlib/password.hpp"
#include "authlib/sasl.hpp"
#include "authlib/userdb_source.hpp"
#include "tests/lib/test_util.hpp"

namespace udb = authlib::userdb;
using authlib::Outcome;

namespace {

lib::Secret secret(std::string_view text) { return lib::Secret(text); }

std::string hash_of(const std::string& password, authlib::Scheme scheme = authlib::Scheme::sha512_crypt) {
  auto h = authlib::make_password_hash(lib::Secret(password), scheme);
  if (!h) std::abort();
  return *h;
}

std::string hmac_of(authlib::sasl::CramHash hash, const std::string& password) {
  auto h = authlib::sasl::make_cram_precomputed(hash, lib::Secret(password));
  if (!h) std::abort();
  return *h;
}

class UserdbModuleTest : public ::testing::Test {
 protected:
  // Writes the source (mode 0600) and compiles it, as makeuserdb does.
  void write_and_build(const std::string& text, const std::string& file = "") {
    const std::string path = file.empty() ? source() : file;
    testutil::write_file(path, text);
    ::chmod(path.c_str(), 0600);
    build();
  }
  void build() {
    auto s = udb::read_source(source());
    ASSERT_TRUE(s.ok()) << s.error().message;
    auto b = udb::Build::prepare(udb::paths_for(source()), *s);
    ASSERT_TRUE(b.ok()) << b.error().message;
    ASSERT_TRUE(b->commit().ok());
  }
  std::unique_ptr<authlib::Module> module(std::map<std::string, std::string> extra = {}) {
    config_ = lib::Config();
    config_.set("USERDB", source());
    for (const auto& [k, v] : extra) config_.set(k, v);
    authlib::ModuleContext context{config_, dir_.path()};
    auto m = authlib::make_userdb_module(context);
    if (!m) {
      ADD_FAILURE() << m.error().message;
      return nullptr;
    }
    return std::move(*m);
  }
  std::string source() const { return dir_ / "userdb"; }

  static authlib::AuthRequest login(std::string service, std::string user, std::string password) {
    authlib::AuthRequest r;
    r.service = std::move(service);
    r.user = std::move(user);
    r.password = lib::Secret(password);
    return r;
  }
  static authlib::AuthRequest cram(authlib::sasl::CramHash hash, std::string service, const std::string& user,
                                   const std::string& password) {
    const std::string challenge = "<1896.697170952@postoffice.example.net>";
    auto response = authlib::sasl::cram_client_response(hash, user, lib::Secret(password), challenge);
    if (!response) std::abort();
    auto exchange = authlib::sasl::parse_cram_response(hash, challenge, response->reveal());
    if (!exchange) std::abort();
    authlib::AuthRequest r;
    r.service = std::move(service);
    r.user = user;
    r.cram = exchange.value();
    return r;
  }

  testutil::TempDir dir_;
  lib::Config config_;
};

TEST_F(UserdbModuleTest, LookupMapsFields) {
  write_and_build(
      "john@example.test\thome=/srv/john|uid=5000|gid=5001|mail=/srv/john/Maildir|quota=1000S|"
      "gecos=John Doe|options=disableimap=1|shell=/bin/false\n"
      "5000=\tjohn@example.test\n");
  auto m = module();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->name(), "authuserdb");
  auto r = m->lookup("john@example.test", "imap");
  ASSERT_EQ(r.outcome, Outcome::ok) << r.reason;
  EXPECT_EQ(r.account.address, "john@example.test");
  EXPECT_EQ(r.account.uid.value_or(0), 5000u);
  EXPECT_EQ(r.account.gid, 5001u);
  EXPECT_EQ(r.account.home, "/srv/john");
  EXPECT_EQ(r.account.maildir, "/srv/john/Maildir");
  EXPECT_EQ(r.account.quota, "1000S");
  EXPECT_EQ(r.account.fullname, "John Doe");
  EXPECT_EQ(r.account.options, "disableimap=1");
  EXPECT_TRUE(r.account.crypted_password.empty());
}

TEST_F(UserdbModuleTest, LookupOutcomes) {
  write_and_build(
      "ann\thome=/a|uid=1|gid=1\n"
      "nouid\thome=/n|gid=1\n"
      "nohome\tuid=1|gid=1\n"
      "5=\tann\n");
  auto m = module({{"DEFAULTOPTIONS", "disableshared=1"}});
  ASSERT_NE(m, nullptr);
  struct {
    const char* label;
    std::string user;
    Outcome outcome;
    std::string reason;
  } cases[] = {
      {"found, default options", "ann", Outcome::ok, ""},
      {"capitalised login finds the lower-case account", "Ann", Outcome::ok, ""},
      {"unknown", "bob", Outcome::rejected, "no such account in " + source() + ".dat"},
      {"empty", "", Outcome::rejected, "empty user name"},
      {"reverse key is no account", "5=", Outcome::rejected, "no such account"},
      {"control character", "a\nb", Outcome::rejected, "no such account"},
      {"missing uid names the field", "nouid", Outcome::rejected, "has no uid= field"},
      {"missing home names the field", "nohome", Outcome::rejected, "has no home= field"},
  };
  for (const auto& c : cases) {
    auto r = m->lookup(c.user, "imap");
    EXPECT_EQ(r.outcome, c.outcome) << c.label << ": " << r.reason;
    EXPECT_NE(r.reason.find(c.reason), std::string::npos) << c.label << ": " << r.reason;
  }
  auto r = m->lookup("ann", "imap");
  EXPECT_EQ(r.account.options, "disableshared=1");
  EXPECT_EQ(m->lookup("Ann", "imap").account.address, "ann");
  auto missing = m->lookup("nouid", "imap");
  EXPECT_NE(missing.reason.find("userdb nouid set uid="), std::string::npos) << missing.reason;
}

TEST_F(UserdbModuleTest, PerServicePasswords) {
  const std::string sys = hash_of("system-secret"), imap = hash_of("imap-secret", authlib::Scheme::md5_crypt);
  write_and_build("u\thome=/u|uid=1|gid=1|systempw=" + sys + "|imappw=" + imap +
                  "\n"
                  "bad\thome=/b|uid=1|gid=1|systempw=plaintext\n"
                  "none\thome=/n|uid=1|gid=1\n");
  auto m = module();
  ASSERT_NE(m, nullptr);
  struct {
    const char* label;
    std::string service, user, password;
    Outcome outcome;
    std::string reason;
  } cases[] = {
      {"imap uses imappw", "imap", "u", "imap-secret", Outcome::ok, ""},
      {"imap refuses systempw", "imap", "u", "system-secret", Outcome::rejected, "checked imappw"},
      {"imaps falls back to imappw", "imaps", "u", "imap-secret", Outcome::ok, ""},
      {"pop3 uses systempw", "pop3", "u", "system-secret", Outcome::ok, ""},
      {"pop3 refuses imappw", "pop3", "u", "imap-secret", Outcome::rejected, "checked systempw"},
      {"esmtp uses systempw", "esmtp", "u", "system-secret", Outcome::ok, ""},
      {"capitalised login", "pop3", "U", "system-secret", Outcome::ok, ""},
      {"malformed hash is explained", "pop3", "bad", "plaintext", Outcome::rejected, "can never match"},
      {"no password fields", "pop3", "none", "x", Outcome::rejected, "has no password in"},
      {"unknown user", "pop3", "zz", "x", Outcome::rejected, "no such account"},
      {"empty password", "pop3", "u", "", Outcome::rejected, "empty password"},
  };
  for (const auto& c : cases) {
    auto r = m->authenticate(login(c.service, c.user, c.password));
    EXPECT_EQ(r.outcome, c.outcome) << c.label << ": " << r.reason;
    EXPECT_NE(r.reason.find(c.reason), std::string::npos) << c.label << ": " << r.reason;
    EXPECT_EQ(r.reason.find("secret"), std::string::npos) << c.label << ": a reason quotes the password";
  }
}

TEST_F(UserdbModuleTest, CramUsesPrecomputedSecrets) {
  using authlib::sasl::CramHash;
  write_and_build("u\thome=/u|uid=1|gid=1|systempw=" + hash_of("pw") + "|hmac-md5pw=" + hmac_of(CramHash::md5, "pw") +
                  "|imap-hmac-md5pw=" + hmac_of(CramHash::md5, "imap-only") +
                  "|hmac-sha1pw=" + hmac_of(CramHash::sha1, "pw") +
                  "\n"
                  "plain\thome=/p|uid=1|gid=1|hmac-md5pw=notprecomputed\n");
  auto m = module();
  ASSERT_NE(m, nullptr);
  struct {
    const char* label;
    CramHash hash;
    std::string service, user, password;
    Outcome outcome;
    std::string reason;
  } cases[] = {
      {"md5 for pop3", CramHash::md5, "pop3", "u", "pw", Outcome::ok, ""},
      {"md5 wrong password", CramHash::md5, "pop3", "u", "nope", Outcome::rejected, "wrong CRAM-MD5"},
      {"md5 for imap uses imap-hmac-md5pw", CramHash::md5, "imap", "u", "imap-only", Outcome::ok, ""},
      {"imap refuses the general secret", CramHash::md5, "imap", "u", "pw", Outcome::rejected, "imap-hmac-md5pw"},
      {"sha1", CramHash::sha1, "pop3", "u", "pw", Outcome::ok, ""},
      {"sha256 has no secret", CramHash::sha256, "pop3", "u", "pw", Outcome::rejected, "needs a hmac-sha256pw"},
      {"not precomputed", CramHash::md5, "pop3", "plain", "x", Outcome::rejected, "not what userdbpw -hmac-md5"},
  };
  for (const auto& c : cases) {
    auto r = m->authenticate(cram(c.hash, c.service, c.user, c.password));
    EXPECT_EQ(r.outcome, c.outcome) << c.label << ": " << r.reason;
    EXPECT_NE(r.reason.find(c.reason), std::string::npos) << c.label << ": " << r.reason;
  }
}

TEST_F(UserdbModuleTest, MissingDatabaseSaysRunMakeuserdb) {
  testutil::write_file(source(), "u\thome=/u|uid=1|gid=1\n");
  auto m = module();
  ASSERT_NE(m, nullptr);
  auto r = m->lookup("u", "imap");
  EXPECT_EQ(r.outcome, Outcome::rejected);
  EXPECT_NE(r.reason.find(source() + ".dat does not exist: run makeuserdb"), std::string::npos) << r.reason;
  // Built later: no new module needed.
  ::chmod(source().c_str(), 0600);
  build();
  EXPECT_EQ(m->lookup("u", "imap").outcome, Outcome::ok);
}

TEST_F(UserdbModuleTest, MissingShadowRejectsWithTheFix) {
  write_and_build("u\thome=/u|uid=1|gid=1|systempw=" + hash_of("pw") + "\n");
  ASSERT_EQ(::unlink((source() + "shadow.dat").c_str()), 0);
  auto m = module();
  ASSERT_NE(m, nullptr);
  auto r = m->authenticate(login("imap", "u", "pw"));
  EXPECT_EQ(r.outcome, Outcome::rejected);
  EXPECT_NE(r.reason.find("shadow.dat does not exist: run makeuserdb"), std::string::npos) << r.reason;
}

TEST_F(UserdbModuleTest, StaleSourceIsPointedOut) {
  write_and_build("u\thome=/u|uid=1|gid=1\n");
  // The admin adds an account but forgets makeuserdb (COURIER-TRAPS.md 5).
  testutil::write_file(source(), "u\thome=/u|uid=1|gid=1\nnew\thome=/n|uid=2|gid=2\n");
  struct timespec times[2] = {{0, UTIME_OMIT}, {2000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, source().c_str(), times, 0), 0);
  auto m = module();
  ASSERT_NE(m, nullptr);
  auto r = m->lookup("new", "imap");
  EXPECT_EQ(r.outcome, Outcome::rejected);
  EXPECT_NE(r.reason.find("was changed after"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("run makeuserdb"), std::string::npos) << r.reason;
}

TEST_F(UserdbModuleTest, CorruptDatabaseIsTemporaryAndNamesTheFile) {
  write_and_build("u\thome=/u|uid=1|gid=1\n");
  const struct {
    const char* label;
    std::string content;
  } corruptions[] = {
      {"garbage", std::string(8192, '\x5a')},
      {"empty file", ""},
      {"text", "u\thome=/u|uid=1|gid=1\n"},
  };
  for (const auto& c : corruptions) {
    testutil::write_file(source() + ".dat", c.content);
    auto m = module();
    ASSERT_NE(m, nullptr);
    auto r = m->lookup("u", "imap");
    EXPECT_EQ(r.outcome, Outcome::temporary) << c.label << ": " << r.reason;
    EXPECT_NE(r.reason.find(source() + ".dat"), std::string::npos) << c.label << ": " << r.reason;
    EXPECT_NE(r.reason.find("makeuserdb"), std::string::npos) << c.label << ": " << r.reason;
    // The module stays usable: a rebuilt database works again.
    build();
    EXPECT_EQ(m->lookup("u", "imap").outcome, Outcome::ok) << c.label;
  }
}

TEST_F(UserdbModuleTest, ReplacedDatabaseIsReopened) {
  write_and_build("old\thome=/o|uid=1|gid=1|systempw=" + hash_of("one") + "\n");
  auto m = module();
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->authenticate(login("imap", "old", "one")).outcome, Outcome::ok);
  EXPECT_EQ(m->lookup("new", "imap").outcome, Outcome::rejected);
  write_and_build("new\thome=/n|uid=2|gid=2|systempw=" + hash_of("two") + "\n");
  EXPECT_EQ(m->lookup("old", "imap").outcome, Outcome::rejected);
  auto r = m->authenticate(login("imap", "new", "two"));
  EXPECT_EQ(r.outcome, Outcome::ok) << r.reason;
}

TEST_F(UserdbModuleTest, DatabaseOverwrittenInPlaceIsReopened) {
  write_and_build("u\thome=/u|uid=1|gid=1\n");
  const std::string good = testutil::read_file(source() + ".dat");
  auto m = module();
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->lookup("u", "imap").outcome, Outcome::ok);
  // cp over the file keeps its inode; the module must not keep reading its cache.
  testutil::write_file(source() + ".dat", std::string(4096, '\x01'));
  auto r = m->lookup("u", "imap");
  EXPECT_EQ(r.outcome, Outcome::temporary) << r.reason;
  testutil::write_file(source() + ".dat", good);
  EXPECT_EQ(m->lookup("u", "imap").outcome, Outcome::ok);
}

TEST_F(UserdbModuleTest, EnumerateListsAccountsOnly) {
  write_and_build(
      "a\thome=/a|uid=1|gid=1|mail=/a/M|options=x=1\n"
      "b\thome=/b|uid=2|gid=2\n"
      "broken\thome=/c\n"
      "1=\ta\n");
  auto m = module();
  ASSERT_NE(m, nullptr);
  std::map<std::string, authlib::Account> seen;
  ASSERT_TRUE(m->enumerate([&](const authlib::Account& a) { seen[a.address] = a; }).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen["a"].maildir, "/a/M");
  EXPECT_EQ(seen["a"].options, "x=1");
  EXPECT_EQ(seen["b"].uid.value_or(0), 2u);

  testutil::write_file(source() + ".dat", std::string(4096, 'x'));
  auto m2 = module();
  auto r = m2->enumerate([](const authlib::Account&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().temporary());
}

TEST_F(UserdbModuleTest, ChangePasswordRewritesSourceAndDatabases) {
  using authlib::sasl::CramHash;
  write_and_build("# accounts\nu\thome=/u|uid=1|gid=1|systempw=" + hash_of("old") +
                  "|hmac-md5pw=" + hmac_of(CramHash::md5, "old") + "|hmac-sha1pw=" + hmac_of(CramHash::sha1, "other") +
                  "\nv\thome=/v|uid=2|gid=2|systempw=" + hash_of("v") + "\n");
  auto m = module();
  ASSERT_NE(m, nullptr);
  const std::string before = testutil::read_file(source());

  auto wrong = m->change_password("imap", "u", secret("bad"), secret("new"));
  EXPECT_EQ(wrong.outcome, Outcome::rejected);
  EXPECT_EQ(testutil::read_file(source()), before);

  auto r = m->change_password("imap", "u", secret("old"), secret("new"));
  ASSERT_EQ(r.outcome, Outcome::ok) << r.reason;
  EXPECT_EQ(m->authenticate(login("imap", "u", "new")).outcome, Outcome::ok);
  EXPECT_EQ(m->authenticate(login("imap", "u", "old")).outcome, Outcome::rejected);
  EXPECT_EQ(m->authenticate(cram(CramHash::md5, "imap", "u", "new")).outcome, Outcome::ok);
  // A CRAM secret that did not hold the old password is left alone.
  EXPECT_EQ(m->authenticate(cram(CramHash::sha1, "imap", "u", "other")).outcome, Outcome::ok);
  EXPECT_EQ(m->authenticate(login("imap", "v", "v")).outcome, Outcome::ok);

  const std::string after = testutil::read_file(source());
  EXPECT_EQ(after.rfind("# accounts\nu\thome=/u|uid=1|gid=1|systempw=$y$", 0), 0u) << after;
  EXPECT_NE(after.find("\nv\thome=/v|uid=2|gid=2|systempw="), std::string::npos);
  struct stat st;
  ASSERT_EQ(::stat(source().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(UserdbModuleTest, ChangePasswordOfServiceFieldInADirectory) {
  const std::string root = source();
  ASSERT_EQ(::mkdir(root.c_str(), 0700), 0);
  write_and_build("u\thome=/u|uid=1|gid=1|systempw=" + hash_of("sys") + "|pop3pw=" + hash_of("pop") + "\n",
                  root + "/default");
  auto m = module();
  ASSERT_NE(m, nullptr);
  auto r = m->change_password("pop3", "u", secret("pop"), secret("pop2"));
  ASSERT_EQ(r.outcome, Outcome::ok) << r.reason;
  EXPECT_EQ(m->authenticate(login("pop3", "u", "pop2")).outcome, Outcome::ok);
  EXPECT_EQ(m->authenticate(login("imap", "u", "sys")).outcome, Outcome::ok);
}

TEST_F(UserdbModuleTest, ChangePasswordChangesNothingWhenTheSourceIsBroken) {
  write_and_build("u\thome=/u|uid=1|gid=1|systempw=" + hash_of("old") + "\n");
  auto m = module();
  ASSERT_NE(m, nullptr);
  const std::string broken = "u\thome=/u|uid=1|gid=1|systempw=" + hash_of("old") + "\nno tab here\n";
  testutil::write_file(source(), broken);
  auto r = m->change_password("imap", "u", secret("old"), secret("new"));
  EXPECT_EQ(r.outcome, Outcome::temporary);
  EXPECT_NE(r.reason.find("no tab"), std::string::npos) << r.reason;
  EXPECT_EQ(testutil::read_file(source()), broken);
  EXPECT_EQ(m->authenticate(login("imap", "u", "old")).outcome, Outcome::ok);

  ::chmod(source().c_str(), 0644);
  testutil::write_file(source(), "u\thome=/u|uid=1|gid=1|systempw=" + hash_of("old") + "\n");
  auto shared = m->change_password("imap", "u", secret("old"), secret("new"));
  EXPECT_EQ(shared.outcome, Outcome::temporary);
  EXPECT_NE(shared.reason.find("chmod 600"), std::string::npos) << shared.reason;

  ::chmod(source().c_str(), 0600);
  auto empty = m->change_password("imap", "u", secret("old"), secret(""));
  EXPECT_EQ(empty.outcome, Outcome::rejected);
}

TEST(UserdbModuleFactory, RelativeUserdbIsRefused) {
  lib::Config config;
  config.set("USERDB", "relative/userdb");
  authlib::ModuleContext context{config, "/etc/courier"};
  auto m = authlib::make_userdb_module(context);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("absolute path"), std::string::npos);

  lib::Config defaults;
  authlib::ModuleContext plain{defaults, "/nonexistent-sysconfdir"};
  auto d = authlib::make_userdb_module(plain);
  ASSERT_TRUE(d.ok());
  auto r = (*d)->lookup("x", "imap");
  EXPECT_EQ(r.outcome, Outcome::rejected);
  EXPECT_NE(r.reason.find("/nonexistent-sysconfdir/userdb.dat does not exist"), std::string::npos) << r.reason;
}

}  // namespace
