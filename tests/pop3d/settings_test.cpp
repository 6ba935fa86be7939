// tests/pop3d/settings_test.cpp: pop3login's and pop3d's settings from the
// environment, account options, DEFDOMAIN, and `pop3login --check-config`.
#include "pop3d/settings.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/lib/test_util.hpp"

namespace pop3d {
namespace {

namespace sasl = authlib::sasl;

lib::Config env_of(std::initializer_list<std::pair<const char*, const char*>> vars) {
  lib::Config c;
  for (const auto& [k, v] : vars) c.set(k, v, lib::ConfigOrigin{"environment", 0, 0});
  return c;
}

bool mentions(const std::vector<std::string>& warnings, std::string_view text) {
  for (const auto& w : warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

TEST(LoginSettings, DefaultsAreCouriers) {
  std::vector<std::string> warnings;
  auto s = load_login_settings(env_of({}), warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_TRUE(s.sasl_plain.empty());
  EXPECT_FALSE(s.tls_active);
  EXPECT_FALSE(s.starttls_enabled);
  EXPECT_FALSE(s.tls_required);
  EXPECT_EQ(s.service, "pop3");
  EXPECT_EQ(s.failed_login_delay.count(), 5);
  EXPECT_EQ(s.max_failed_logins, 3);
  EXPECT_EQ(s.login_timeout.count(), 60);
  EXPECT_FALSE(s.external_offered());
  EXPECT_FALSE(s.cram_hostname.empty());
}

TEST(LoginSettings, ReadsMechanismsAndTls) {
  std::vector<std::string> warnings;
  auto s = load_login_settings(env_of({{"POP3AUTH", "login cram-md5, PLAIN LOGIN"},
                                       {"POP3AUTH_TLS", "PLAIN"},
                                       {"POP3_STARTTLS", "YES"},
                                       {"POP3_TLS_REQUIRED", "1"},
                                       {"TCPLOCALPORT", "995"},
                                       {"AUTHSERVICE995", "pop3s"},
                                       {"POP3_FAILED_LOGIN_DELAY", "2"},
                                       {"POP3_MAX_FAILED_LOGINS", "5"}}),
                               warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(s.sasl_plain, (std::vector<sasl::Mechanism>{sasl::Mechanism::login, sasl::Mechanism::cram_md5,
                                                        sasl::Mechanism::plain}));
  EXPECT_EQ(s.offered_sasl(), s.sasl_plain);  // not in TLS yet
  EXPECT_TRUE(s.starttls_enabled);
  EXPECT_TRUE(s.login_needs_tls());
  EXPECT_EQ(s.service, "pop3s");
  EXPECT_EQ(s.failed_login_delay.count(), 2);
  EXPECT_EQ(s.max_failed_logins, 5);
  s.tls_active = true;
  EXPECT_EQ(s.offered_sasl(), (std::vector<sasl::Mechanism>{sasl::Mechanism::plain}));
  EXPECT_FALSE(s.login_needs_tls());
}

TEST(LoginSettings, InTlsNoStarttlsAndExternalFromTheCertificate) {
  std::vector<std::string> warnings;
  auto s = load_login_settings(env_of({{"POP3_TLS", "1"},
                                       {"POP3_STARTTLS", "YES"},
                                       {"TLS_EXTERNAL", "emailaddress"},
                                       {"TLS_SUBJECT_EMAILADDRESS", "alice@example.test"}}),
                               warnings);
  EXPECT_TRUE(s.tls_active);
  EXPECT_FALSE(s.starttls_enabled);
  EXPECT_EQ(s.external_identity, "alice@example.test");
  EXPECT_TRUE(s.external_offered());
}

TEST(LoginSettings, WarnsAboutBadValues) {
  struct Case {
    const char* label;
    lib::Config env;
    const char* warning;
  };
  const Case cases[] = {
      {"unknown mechanism", env_of({{"POP3AUTH", "PLAIN DIGEST-MD5"}}), "DIGEST-MD5"},
      {"external listed", env_of({{"POP3AUTH", "EXTERNAL"}}), "EXTERNAL"},
      {"delay not a number", env_of({{"POP3_FAILED_LOGIN_DELAY", "soon"}}), "POP3_FAILED_LOGIN_DELAY"},
      {"delay too long", env_of({{"POP3_FAILED_LOGIN_DELAY", "1h"}}), "POP3_FAILED_LOGIN_DELAY"},
      {"max failures zero", env_of({{"POP3_MAX_FAILED_LOGINS", "0"}}), "POP3_MAX_FAILED_LOGINS"},
      {"bad external field", env_of({{"TLS_EXTERNAL", "e-mail;rm"}}), "TLS_EXTERNAL"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    std::vector<std::string> warnings;
    auto s = load_login_settings(c.env, warnings);
    EXPECT_TRUE(mentions(warnings, c.warning));
    EXPECT_EQ(s.failed_login_delay.count(), 5);
    EXPECT_EQ(s.max_failed_logins, 3);
  }
}

TEST(ServerSettings, ReadsTheSessionEnvironment) {
  std::vector<std::string> warnings;
  auto s = load_server_settings(env_of({{"AUTHENTICATED", "bob"},
                                        {"AUTHADDR", "bob@example.test"},
                                        {"TCPREMOTEIP", "192.0.2.1"},
                                        {"POP3_LOG_DELETIONS", "1"},
                                        {"POP3_PIPELINED", "535441540d0a"},  // "STAT\r\n"
                                        {"POP3_IDLE_TIMEOUT", "10m"}}),
                                warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(s.user, "bob@example.test");
  EXPECT_EQ(s.peer.remote_ip, "192.0.2.1");
  EXPECT_TRUE(s.log_deletions);
  EXPECT_EQ(s.pipelined_input, "STAT\r\n");
  EXPECT_EQ(s.idle_timeout.count(), 600);
  EXPECT_EQ(s.maildir, "./Maildir");

  warnings.clear();
  auto bad = load_server_settings(env_of({{"POP3_PIPELINED", "not hex!"}, {"POP3_LOG_DELETIONS", "0"}}),
                                  warnings);
  EXPECT_TRUE(bad.pipelined_input.empty());
  EXPECT_FALSE(bad.log_deletions);
  EXPECT_EQ(bad.user, "nobody");
  EXPECT_TRUE(mentions(warnings, "POP3_PIPELINED"));
}

TEST(AccountOptions, CourierSemantics) {
  const std::string options = "disableimap=1,disablepop3=0,group=staff,disableinsecurepop3,flag=yes";
  EXPECT_EQ(account_option(options, "group"), "staff");
  EXPECT_EQ(account_option(options, "disableinsecurepop3"), "");
  EXPECT_FALSE(account_option(options, "grou"));
  EXPECT_FALSE(account_option(options, "missing"));
  EXPECT_FALSE(account_option("", "x"));
  EXPECT_TRUE(account_option_set(options, "disableimap"));
  EXPECT_FALSE(account_option_set(options, "disablepop3"));
  EXPECT_TRUE(account_option_set(options, "disableinsecurepop3"));
  EXPECT_TRUE(account_option_set(options, "flag"));
  EXPECT_FALSE(account_option_set(options, "absent"));
  EXPECT_FALSE(account_option_set(",,,=,", "disablepop3"));
}

TEST(DefDomain, CourierRule) {
  struct Case {
    const char* user;
    const char* defdomain;
    const char* domainsep;
    const char* expected;
  };
  const Case cases[] = {
      {"alice", "", "", "alice"},
      {"alice", "@example.test", "", "alice@example.test"},
      {"alice@other.test", "@example.test", "", "alice@other.test"},
      {"alice%other", "@example.test", "@%", "alice%other"},
      {"alice", "@example.test", "@%", "alice@example.test"},
      {"al@ice", "@example.test", "%", "al@ice@example.test"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.user);
    EXPECT_EQ(apply_defdomain(c.user, c.defdomain, c.domainsep), c.expected);
  }
}

TEST(CheckConfig, ReadsBothFilesAndWarns) {
  testutil::TempDir dir;
  testutil::write_file(dir / "pop3d",
                       "PORT=110\nADDRESS=0\nMAXDAEMONS=40\nPOP3AUTH=\"PLAIN LOGIN\"\nPOP3_PROXY=1\n"
                       "POP3_IDEL_TIMEOUT=5\nPIDFILE=\"${localstatedir}/run/pop3d.pid\"\n");
  testutil::write_file(dir / "pop3d-ssl", "SSLPORT=995\nPOP3_STARTTLS=YES\nTLS_CERTFILE=${sysconfdir}/pop3d.pem\n");
  auto w = check_config_files({dir / "pop3d", dir / "pop3d-ssl"});
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_TRUE(mentions(*w, "POP3_IDEL_TIMEOUT"));   // a typo
  EXPECT_TRUE(mentions(*w, "POP3_IDLE_TIMEOUT"));   // its suggestion
  EXPECT_TRUE(mentions(*w, "POP3_PROXY is not supported"));
  EXPECT_FALSE(mentions(*w, "SSLPORT"));
  EXPECT_FALSE(mentions(*w, "PIDFILE"));

  testutil::write_file(dir / "broken", "PORT=`id`\n");
  auto bad = check_config_files({dir / "broken"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("broken"), std::string::npos);
  auto missing = check_config_files({dir / "nonexistent"});
  ASSERT_FALSE(missing.ok());
}

}  // namespace
}  // namespace pop3d
