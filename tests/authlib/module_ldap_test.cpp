// tests/authlib/module_ldap_test.cpp: authldap's pure parts (authldaprc
// settings, RFC 4515 filters and escaping, entry-to-account mapping) and the
// module's behaviour when the server cannot be reached. The real directory is
// exercised by tests/integration/test_authldap.py against slapd.
#include "authlib/module_ldap.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tests/lib/test_util.hpp"

namespace authlib {
namespace {

constexpr const char* kMinimal =
    "LDAP_URI ldap://ldap.example.com/\n"
    "LDAP_BASEDN ou=people,dc=example,dc=com\n"
    "LDAP_GLOB_UID 5000\n"
    "LDAP_GLOB_GID 5000\n"
    "LDAP_CRYPTPW userPassword\n";

lib::Secret secret(std::string_view text) { return lib::Secret(text); }

lib::Result<LdapSettings> parse(const std::string& text) {
  auto rc = lib::Config::parse_spaced(text, "authldaprc");
  if (!rc) return rc.error();
  return parse_ldap_settings(rc.value(), "authldaprc");
}

LdapSettings parse_ok(const std::string& text) {
  auto s = parse(text);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(s.value()) : LdapSettings{};
}

// ---------------------------------------------------------------------------
// Settings

TEST(LdapSettings, MinimalFileGetsCourierDefaults) {
  LdapSettings s = parse_ok(kMinimal);
  EXPECT_EQ(s.uri, "ldap://ldap.example.com/");
  EXPECT_EQ(s.base_dn, "ou=people,dc=example,dc=com");
  EXPECT_EQ(s.protocol_version, 3);
  EXPECT_FALSE(s.start_tls);
  EXPECT_EQ(s.timeout.count(), 5);
  EXPECT_FALSE(s.auth_bind);
  EXPECT_FALSE(s.init_bind);  // no LDAP_BINDDN: anonymous
  EXPECT_EQ(s.mail_attribute, "mail");
  EXPECT_EQ(s.home_attribute, "homeDir");
  EXPECT_EQ(s.deref, LdapDeref::never);
  EXPECT_EQ(s.filter, "");
  EXPECT_EQ(s.enumerate_filter, "(mail=*)");
  EXPECT_EQ(s.glob_uid, std::optional<uid_t>(5000));
  EXPECT_EQ(s.glob_gid, std::optional<gid_t>(5000));
  EXPECT_TRUE(s.warnings.empty());
}

TEST(LdapSettings, CourierSampleFileIsAccepted) {
  // The settings of Courier's authldaprc.dist, with its list of URIs and a
  // base DN written with blanks after the commas.
  LdapSettings s = parse_ok(
      "LDAP_URI\t\tldaps://ldap.example.com, ldaps://backup.example.com\n"
      "LDAP_PROTOCOL_VERSION\t3\n"
      "LDAP_BASEDN\t\to=example, c=com\n"
      "LDAP_BINDDN\t\tcn=administrator, o=example, c=com\n"
      "LDAP_BINDPW\t\ttoto\n"
      "LDAP_TIMEOUT\t\t5\n"
      "LDAP_INITBIND\t\t1\n"
      "LDAP_MAIL\t\tmail\n"
      "LDAP_FILTER           (objectClass=CourierMailAccount)\n"
      "LDAP_DOMAIN\t\texample.com\n"
      "LDAP_HOMEDIR\t\thomeDirectory\n"
      "LDAP_MAILDIR\t\tmailbox\n"
      "LDAP_DEFAULTDELIVERY\tdefaultDelivery\n"
      "LDAP_FULLNAME\t\tcn\n"
      "LDAP_CLEARPW\t\tclearPassword\n"
      "LDAP_CRYPTPW\t\tuserPassword\n"
      "LDAP_UID\t\tuidNumber\n"
      "LDAP_GID\t\tgidNumber\n"
      "LDAP_AUXOPTIONS\tshared=sharedgroup,disableimap=disableimap\n"
      "LDAP_DEREF\t\tnever\n"
      "LDAP_TLS\t\t0\n");
  EXPECT_EQ(s.uri, "ldaps://ldap.example.com ldaps://backup.example.com");
  EXPECT_TRUE(s.init_bind);
  EXPECT_EQ(s.bind_dn, "cn=administrator, o=example, c=com");
  EXPECT_EQ(s.bind_password.reveal(), "toto");
  EXPECT_EQ(s.filter, "(objectClass=CourierMailAccount)");
  EXPECT_EQ(s.enumerate_filter, "(objectClass=CourierMailAccount)");  // LDAP_FILTER when not set
  ASSERT_EQ(s.aux_options.size(), 2u);
  EXPECT_EQ(s.aux_options[0].attribute, "shared");
  EXPECT_EQ(s.aux_options[0].option, "sharedgroup");
  EXPECT_EQ(s.aux_options[1].attribute, "disableimap");
  EXPECT_EQ(s.uid_attribute, "uidNumber");
  EXPECT_EQ(s.ref("LDAP_FILTER"), "LDAP_FILTER (authldaprc:9)");
  EXPECT_EQ(s.ref("LDAP_MAILROOT"), "LDAP_MAILROOT (not set in authldaprc)");
}

TEST(LdapSettings, ValuesAreReadAsDocumented) {
  struct Case {
    const char* label;
    std::string extra;
    std::function<void(const LdapSettings&)> check;
  };
  const Case cases[] = {
      {"BINDDN turns INITBIND on", "LDAP_BINDDN cn=svc,dc=x\nLDAP_BINDPW pw\n",
       [](const LdapSettings& s) { EXPECT_TRUE(s.init_bind); }},
      {"INITBIND 0 keeps it off", "LDAP_BINDDN cn=svc,dc=x\nLDAP_BINDPW pw\nLDAP_INITBIND 0\n",
       [](const LdapSettings& s) { EXPECT_FALSE(s.init_bind); }},
      {"AUTHBIND", "LDAP_AUTHBIND 1\n", [](const LdapSettings& s) { EXPECT_TRUE(s.auth_bind); }},
      {"StartTLS", "LDAP_TLS 1\n", [](const LdapSettings& s) { EXPECT_TRUE(s.start_tls); }},
      {"version 2", "LDAP_PROTOCOL_VERSION 2\n", [](const LdapSettings& s) { EXPECT_EQ(s.protocol_version, 2); }},
      {"version 0 is the default", "LDAP_PROTOCOL_VERSION 0\n",
       [](const LdapSettings& s) { EXPECT_EQ(s.protocol_version, 3); }},
      {"timeout", "LDAP_TIMEOUT 30\n", [](const LdapSettings& s) { EXPECT_EQ(s.timeout.count(), 30); }},
      {"deref any case", "LDAP_DEREF Always\n",
       [](const LdapSettings& s) { EXPECT_EQ(s.deref, LdapDeref::always); }},
      {"deref finding", "LDAP_DEREF finding\n", [](const LdapSettings& s) { EXPECT_EQ(s.deref, LdapDeref::finding); }},
      {"bare filter gets parentheses", "LDAP_FILTER objectClass=CourierMailAccount\n",
       [](const LdapSettings& s) { EXPECT_EQ(s.filter, "(objectClass=CourierMailAccount)"); }},
      {"enumerate filter wins", "LDAP_FILTER (a=1)\nLDAP_ENUMERATE_FILTER (&(a=1)(!(disableshared=1)))\n",
       [](const LdapSettings& s) { EXPECT_EQ(s.enumerate_filter, "(&(a=1)(!(disableshared=1)))"); }},
      {"enumerate default follows LDAP_MAIL", "LDAP_MAIL uid\n",
       [](const LdapSettings& s) { EXPECT_EQ(s.enumerate_filter, "(uid=*)"); }},
      {"mailroot loses its trailing slash", "LDAP_MAILROOT /var/mail/\n",
       [](const LdapSettings& s) { EXPECT_EQ(s.mailroot, "/var/mail"); }},
      {"glob ids by name", "LDAP_GLOB_UID nobody\nLDAP_GLOB_GID nogroup\n",
       [](const LdapSettings& s) {
         EXPECT_EQ(s.glob_uid, std::optional<uid_t>(65534));
         EXPECT_EQ(s.glob_gid, std::optional<gid_t>(65534));
       }},
      {"auxoption without a name keeps the attribute's", "LDAP_AUXOPTIONS disableimap, ,mailhost=mailhost\n",
       [](const LdapSettings& s) {
         ASSERT_EQ(s.aux_options.size(), 2u);
         EXPECT_EQ(s.aux_options[0].option, "disableimap");
         EXPECT_EQ(s.aux_options[1].attribute, "mailhost");
       }},
      {"emailmap defaults", "LDAP_EMAILMAP (&(userid=@user@)(realm=@realm@))\n",
       [](const LdapSettings& s) {
         EXPECT_EQ(s.emailmap_base_dn, "ou=people,dc=example,dc=com");
         EXPECT_EQ(s.emailmap_attribute, "handle");
         EXPECT_EQ(s.emailmap_mail_attribute, "mail");
       }},
      {"numeric OID attribute with option", "LDAP_HOMEDIR 1.3.6.1.1.1.1.3;x-home\n",
       [](const LdapSettings& s) { EXPECT_EQ(s.home_attribute, "1.3.6.1.1.1.1.3;x-home"); }},
      {"ldapi URI", "LDAP_URI ldapi://%2Frun%2Fslapd%2Fldapi\n",
       [](const LdapSettings& s) { EXPECT_EQ(s.uri, "ldapi://%2Frun%2Fslapd%2Fldapi"); }},
      {"no password attribute is fine with AUTHBIND", "LDAP_CRYPTPW\nLDAP_AUTHBIND 1\n",
       [](const LdapSettings& s) { EXPECT_EQ(s.crypt_password_attribute, ""); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    c.check(parse_ok(std::string(kMinimal) + c.extra));
  }
}

TEST(LdapSettings, MalformedSettingsNameFileLineAndFix) {
  struct Case {
    const char* label;
    std::string text;
    std::vector<std::string> expected;  // substrings of the error
  };
  const std::string uri = "LDAP_URI ldap://h/\n";
  const std::string base = "LDAP_BASEDN dc=x\n";
  const std::string ids = "LDAP_GLOB_UID 5000\nLDAP_GLOB_GID 5000\n";
  const std::string pw = "LDAP_CRYPTPW userPassword\n";
  const Case cases[] = {
      {"no URI", base + ids + pw, {"authldaprc: LDAP_URI is not set", "ldap://"}},
      {"empty URI", "LDAP_URI\n" + base + ids + pw, {"authldaprc:1: LDAP_URI is not set"}},
      {"not an LDAP URI", "LDAP_URI http://h/\n" + base + ids + pw, {"authldaprc:1: LDAP_URI", "http://h/"}},
      {"second URI bad", "LDAP_URI ldap://a/, bogus\n" + base + ids + pw, {"authldaprc:1", "\"bogus\""}},
      {"StartTLS over ldaps", "LDAP_URI ldaps://h/\nLDAP_TLS 1\n" + base + ids + pw,
       {"authldaprc:1: LDAP_URI", "LDAP_TLS 0"}},
      {"TLS not boolean", uri + "LDAP_TLS maybe\n" + base + ids + pw, {"authldaprc:2: LDAP_TLS", "not a boolean"}},
      {"StartTLS with LDAPv2", uri + "LDAP_TLS 1\nLDAP_PROTOCOL_VERSION 2\n" + base + ids + pw,
       {"LDAP_TLS", "LDAP_PROTOCOL_VERSION 3"}},
      {"version 4", uri + "LDAP_PROTOCOL_VERSION 4\n" + base + ids + pw,
       {"authldaprc:2: LDAP_PROTOCOL_VERSION", "not 2 or 3"}},
      {"no base", uri + ids + pw, {"LDAP_BASEDN is not set"}},
      {"base not a DN", uri + "LDAP_BASEDN people\n" + ids + pw,
       {"authldaprc:2: LDAP_BASEDN", "not a distinguished name"}},
      {"bind DN not a DN", uri + base + "LDAP_BINDDN admin\nLDAP_BINDPW x\n" + ids + pw,
       {"authldaprc:3: LDAP_BINDDN"}},
      {"timeout not a number", uri + base + "LDAP_TIMEOUT soon\n" + ids + pw, {"authldaprc:3: LDAP_TIMEOUT"}},
      {"timeout zero", uri + base + "LDAP_TIMEOUT 0\n" + ids + pw, {"LDAP_TIMEOUT", "1 to 3600"}},
      {"timeout huge", uri + base + "LDAP_TIMEOUT 99999999999999999999\n" + ids + pw, {"LDAP_TIMEOUT"}},
      {"timeout negative", uri + base + "LDAP_TIMEOUT -5\n" + ids + pw, {"LDAP_TIMEOUT"}},
      {"deref unknown", uri + base + "LDAP_DEREF sometimes\n" + ids + pw, {"authldaprc:3: LDAP_DEREF", "never"}},
      {"attribute with a blank", uri + base + "LDAP_HOMEDIR home dir\n" + ids + pw,
       {"authldaprc:3: LDAP_HOMEDIR", "not an LDAP attribute name"}},
      {"attribute with parenthesis", uri + base + "LDAP_MAIL mail)(uid=*\n" + ids + pw, {"LDAP_MAIL"}},
      {"empty LDAP_MAIL", uri + base + "LDAP_MAIL\n" + ids + pw, {"LDAP_MAIL is empty"}},
      {"unbalanced filter", uri + base + "LDAP_FILTER (objectClass=x\n" + ids + pw,
       {"authldaprc:3: LDAP_FILTER", "RFC 4515"}},
      {"filter with junk after", uri + base + "LDAP_FILTER (a=b)c\n" + ids + pw, {"LDAP_FILTER"}},
      {"bad enumerate filter", uri + base + "LDAP_ENUMERATE_FILTER (&(a=b)\n" + ids + pw,
       {"LDAP_ENUMERATE_FILTER"}},
      {"no uid source", uri + base + "LDAP_GLOB_GID 5\n" + pw, {"LDAP_UID is not set", "LDAP_GLOB_UID"}},
      {"no gid source", uri + base + "LDAP_UID uidNumber\n" + pw, {"LDAP_GID is not set", "LDAP_GLOB_GID"}},
      {"unknown user", uri + base + "LDAP_GLOB_UID no-such-user-here\nLDAP_GLOB_GID 5\n" + pw,
       {"authldaprc:3: LDAP_GLOB_UID", "no-such-user-here"}},
      {"unknown group", uri + base + "LDAP_GLOB_UID 5\nLDAP_GLOB_GID no-such-group-here\n" + pw,
       {"authldaprc:4: LDAP_GLOB_GID"}},
      {"root uid", uri + base + "LDAP_GLOB_UID root\nLDAP_GLOB_GID 5\n" + pw, {"LDAP_GLOB_UID is root"}},
      {"root gid", uri + base + "LDAP_GLOB_UID 5\nLDAP_GLOB_GID 0\n" + pw, {"LDAP_GLOB_GID is group 0"}},
      {"INITBIND without BINDDN", uri + base + "LDAP_INITBIND 1\n" + ids + pw,
       {"authldaprc:3: LDAP_INITBIND", "LDAP_BINDDN"}},
      {"BINDDN without BINDPW", uri + base + "LDAP_BINDDN cn=svc,dc=x\n" + ids + pw,
       {"LDAP_BINDPW is not set", "unauthenticated bind"}},
      {"BINDPW empty", uri + base + "LDAP_BINDDN cn=svc,dc=x\nLDAP_BINDPW\n" + ids + pw,
       {"authldaprc:4: LDAP_BINDPW is empty"}},
      {"no way to check a password", uri + base + ids, {"LDAP_CRYPTPW", "LDAP_AUTHBIND 1"}},
      {"auxoption bad attribute", uri + base + ids + pw + "LDAP_AUXOPTIONS a b=c\n",
       {"authldaprc:6: LDAP_AUXOPTIONS", "attribute=option"}},
      {"auxoption bad name", uri + base + ids + pw + "LDAP_AUXOPTIONS sharedgroup=x y\n", {"LDAP_AUXOPTIONS"}},
      {"relative mailroot", uri + base + ids + pw + "LDAP_MAILROOT var/mail\n",
       {"authldaprc:6: LDAP_MAILROOT", "absolute"}},
      {"domain with @", uri + base + ids + pw + "LDAP_DOMAIN @example.com\n", {"LDAP_DOMAIN"}},
      {"emailmap unknown placeholder", uri + base + ids + pw + "LDAP_EMAILMAP (&(u=@user@)(h=@host@))\n",
       {"authldaprc:6: LDAP_EMAILMAP", "@realm@"}},
      {"emailmap not a filter", uri + base + ids + pw + "LDAP_EMAILMAP (u=@user@\n", {"LDAP_EMAILMAP"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    auto s = parse(c.text);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind, lib::ErrorKind::permanent);
    for (const std::string& e : c.expected) EXPECT_NE(s.error().message.find(e), std::string::npos) << s.error().message;
  }
}

TEST(LdapSettings, UnknownSettingIsAWarningWithTheLikelyName) {
  LdapSettings s = parse_ok(std::string(kMinimal) + "LDAP_HOMEDRI homeDirectory\n");
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("authldaprc:6"), std::string::npos) << s.warnings[0];
  EXPECT_NE(s.warnings[0].find("LDAP_HOMEDIR"), std::string::npos) << s.warnings[0];
}

TEST(LdapSettings, ShippedFileIsValidAndDocumentsEverySetting) {
  // sysconfdir/authldaprc, found from this source file's path (absolute, or
  // relative to the build folder the tests run in).
  std::string here = __FILE__;
  const std::string suffix = "tests/authlib/module_ldap_test.cpp";
  ASSERT_GE(here.size(), suffix.size());
  std::string path = here.substr(0, here.size() - suffix.size()) + "sysconfdir/authldaprc";
  std::string text = testutil::read_file(path);
  ASSERT_FALSE(text.empty()) << "cannot read " << path;
  auto rc = lib::Config::parse_spaced(text, path);
  ASSERT_TRUE(rc.ok()) << rc.error().message;
  auto s = parse_ldap_settings(rc.value(), path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->warnings.empty()) << s->warnings.front();
  EXPECT_TRUE(s->bind_password.empty()) << "no password in the shipped file";
  for (const char* name :
       {"LDAP_URI", "LDAP_PROTOCOL_VERSION", "LDAP_TLS", "LDAP_TIMEOUT", "LDAP_BASEDN", "LDAP_BINDDN", "LDAP_BINDPW",
        "LDAP_AUTHBIND", "LDAP_INITBIND", "LDAP_MAIL", "LDAP_FILTER", "LDAP_DOMAIN", "LDAP_GLOB_UID", "LDAP_GLOB_GID",
        "LDAP_UID", "LDAP_GID", "LDAP_HOMEDIR", "LDAP_MAILROOT", "LDAP_MAILDIR", "LDAP_DEFAULTDELIVERY",
        "LDAP_MAILDIRQUOTA", "LDAP_FULLNAME", "LDAP_CLEARPW", "LDAP_CRYPTPW", "LDAP_AUXOPTIONS",
        "LDAP_ENUMERATE_FILTER", "LDAP_DEREF", "LDAP_EMAILMAP", "LDAP_EMAILMAP_BASEDN", "LDAP_EMAILMAP_ATTRIBUTE",
        "LDAP_EMAILMAP_MAIL"}) {
    // Described where it starts a paragraph: "# NAME: ..." or "# NAME, NAME2: ...".
    const std::string n = name;
    bool documented = text.find("# " + n + ":") != std::string::npos ||
                      text.find("# " + n + ",") != std::string::npos || text.find(", " + n + ":") != std::string::npos;
    EXPECT_TRUE(documented) << name << " is not documented";
  }
}

// ---------------------------------------------------------------------------
// Filters

TEST(LdapFilter, EscapingFollowsRfc4515) {
  struct Case {
    const char* label;
    std::string in;
    std::string out;
  };
  const Case cases[] = {
      {"plain", "alice@example.com", "alice@example.com"},
      {"empty", "", ""},
      {"star", "a*b", "a\\2ab"},
      {"parentheses", "(x)", "\\28x\\29"},
      {"backslash", "a\\b", "a\\5cb"},
      {"NUL", std::string("a\0b", 3), "a\\00b"},
      {"control characters", "a\nb\x7f", "a\\0ab\\7f"},
      {"UTF-8 stays", "j\xc3\xbcrgen", "j\xc3\xbcrgen"},
      {"already escaped is escaped again", "\\2a", "\\5c2a"},
      {"injection", "*)(uid=*", "\\2a\\29\\28uid=\\2a"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(ldap_escape_filter_value(c.in), c.out);
  }
}

TEST(LdapFilter, SyntaxCheck) {
  struct Case {
    const char* label;
    std::string filter;
    bool valid;
  };
  const Case cases[] = {
      {"equality", "(mail=a@b)", true},
      {"presence", "(mail=*)", true},
      {"substring", "(cn=*a*b*c)", true},
      {"approx", "(cn~=alice)", true},
      {"greater", "(uidNumber>=1000)", true},
      {"less", "(uidNumber<=1000)", true},
      {"and", "(&(a=1)(b=2))", true},
      {"or", "(|(a=1)(b=2)(c=3))", true},
      {"not", "(!(a=1))", true},
      {"nested", "(&(objectClass=CourierMailAccount)(!(disableshared=1))(|(a=*)(b=c*)))", true},
      {"absolute true", "(&)", true},
      {"absolute false", "(|)", true},
      {"escaped value", "(cn=a\\2a\\28b)", true},
      {"utf-8 value", "(cn=J\xc3\xbcrgen)", true},
      {"empty value", "(cn=)", true},
      {"attribute options", "(cn;lang-de=x)", true},
      {"numeric oid", "(2.5.4.3=x)", true},
      {"extensible", "(cn:caseExactMatch:=Fred)", true},
      {"extensible dn", "(cn:dn:2.4.6.8.10:=Dino)", true},
      {"extensible rule only", "(:1.2.3:=Wilma)", true},
      {"extensible dn and rule only", "(:dn:2.4.6.8.10:=Dino)", true},
      {"empty", "", false},
      {"no parentheses", "cn=x", false},
      {"unbalanced open", "(cn=x", false},
      {"unbalanced close", "(cn=x))", false},
      {"two filters", "(a=1)(b=2)", false},
      {"empty item", "()", false},
      {"no attribute", "(=x)", false},
      {"attribute with blank", "(c n=x)", false},
      {"raw parenthesis in value", "(cn=a(b)", false},
      {"bad escape", "(cn=a\\2)", false},
      {"bad escape hex", "(cn=a\\zz)", false},
      {"trailing backslash", "(cn=a\\", false},
      {"star in approx", "(cn~=a*)", false},
      {"star in greater", "(n>=*)", false},
      {"not without filter", "(!)", false},
      {"not with two", "(!(a=1)(b=2))", false},
      {"and with junk", "(&(a=1)x)", false},
      {"NUL", std::string("(cn=a\0b)", 8), false},
      {"bare extensible", "(:=x)", false},
      {"leading zero oid", "(01.2=x)", false},
      {"dangling option", "(cn;=x)", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(ldap_filter_valid(c.filter), c.valid) << c.filter;
  }
}

TEST(LdapFilter, HostileFiltersHitTheLimits) {
  std::string deep;
  for (size_t i = 0; i < ldap_max_filter_depth + 1; ++i) deep += "(!";
  deep += "(a=1)";
  for (size_t i = 0; i < ldap_max_filter_depth + 1; ++i) deep += ")";
  EXPECT_FALSE(ldap_filter_valid(deep)) << "nesting over the limit";
  std::string shallow = "(!(!(a=1)))";
  EXPECT_TRUE(ldap_filter_valid(shallow));
  std::string huge = "(cn=" + std::string(ldap_max_filter_bytes, 'x') + ")";
  EXPECT_FALSE(ldap_filter_valid(huge)) << "over the size limit";
  // Truncations of a valid filter are all invalid.
  std::string good = "(&(objectClass=CourierMailAccount)(mail=a\\2a@b))";
  for (size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(ldap_filter_valid(good.substr(0, n))) << n;
}

TEST(LdapFilter, LoginFilterEscapesTheNameAndAddsTheDomain) {
  LdapSettings s = parse_ok(std::string(kMinimal) +
                            "LDAP_FILTER (objectClass=CourierMailAccount)\nLDAP_DOMAIN example.com\n");
  struct Case {
    const char* label;
    std::string login;
    std::string filter;
  };
  const Case cases[] = {
      {"bare name gets the domain", "alice", "(&(objectClass=CourierMailAccount)(mail=alice@example.com))"},
      {"address stays", "bob@other.org", "(&(objectClass=CourierMailAccount)(mail=bob@other.org))"},
      {"wildcard", "ali*", "(&(objectClass=CourierMailAccount)(mail=ali\\2a@example.com))"},
      {"injection", "*)(uid=*", "(&(objectClass=CourierMailAccount)(mail=\\2a\\29\\28uid=\\2a@example.com))"},
      {"injection with @", "a@b)(|(mail=*", "(&(objectClass=CourierMailAccount)(mail=a@b\\29\\28|\\28mail=\\2a))"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(ldap_login_filter(s, c.login), c.filter);
    EXPECT_TRUE(ldap_filter_valid(ldap_login_filter(s, c.login)));
  }
  LdapSettings plain = parse_ok(kMinimal);
  EXPECT_EQ(ldap_login_filter(plain, "alice"), "(mail=alice)");
}

TEST(LdapFilter, NoLoginNameChangesTheFilterShape) {
  // Every byte, and runs of filter syntax: the result is always one valid
  // filter whose only item compares LDAP_MAIL, so nothing can widen it.
  LdapSettings s = parse_ok(std::string(kMinimal) + "LDAP_FILTER (objectClass=x)\n");
  std::vector<std::string> logins = {"*", "()", ")(", "\\", "(|(mail=*))", "*)(objectClass=*))(|(a=*",
                                     std::string(ldap_max_login_bytes, '*')};
  for (int b = 0; b < 256; ++b) logins.push_back(std::string("a") + static_cast<char>(b) + "z");
  for (const std::string& login : logins) {
    std::string f = ldap_login_filter(s, login);
    EXPECT_TRUE(ldap_filter_valid(f)) << f;
    ASSERT_EQ(f.rfind("(&(objectClass=x)(mail=", 0), 0u) << f;
    std::string value = f.substr(23, f.size() - 23 - 2);
    EXPECT_EQ(value.find_first_of("()*"), std::string::npos) << f;
    EXPECT_EQ(f.substr(f.size() - 2), "))");
  }
}

TEST(LdapFilter, EmailmapPlaceholdersAreEscaped) {
  LdapSettings s = parse_ok(std::string(kMinimal) + "LDAP_EMAILMAP (&(userid=@user@)(realm=@realm@)(x=\\40))\n");
  EXPECT_EQ(ldap_emailmap_filter(s, "john", "example.com"), "(&(userid=john)(realm=example.com)(x=\\40))");
  std::string hostile = ldap_emailmap_filter(s, "*)(a=*", "x)(|(b=*");
  EXPECT_EQ(hostile, "(&(userid=\\2a\\29\\28a=\\2a)(realm=x\\29\\28|\\28b=\\2a)(x=\\40))");
  EXPECT_TRUE(ldap_filter_valid(hostile));
}

// ---------------------------------------------------------------------------
// Entries to accounts

LdapSettings mapping_settings(const std::string& extra = "") {
  return parse_ok(
      "LDAP_URI ldap://h/\nLDAP_BASEDN dc=x\n"
      "LDAP_UID uidNumber\nLDAP_GID gidNumber\n"
      "LDAP_HOMEDIR homeDirectory\nLDAP_MAILDIR mailbox\nLDAP_DEFAULTDELIVERY defaultDelivery\n"
      "LDAP_MAILDIRQUOTA quota\nLDAP_FULLNAME cn\n"
      "LDAP_CLEARPW clearPassword\nLDAP_CRYPTPW userPassword\n"
      "LDAP_AUXOPTIONS disableimap=disableimap,sharedgroup=sharedgroup\n" +
      extra);
}

LdapEntry alice_entry() {
  return LdapEntry{"uid=alice,dc=x",
                   {{"uidNumber", {"10001"}},
                    {"gidNumber", {"10000"}},
                    {"homeDirectory", {"/home/alice"}},
                    {"mailbox", {"/home/alice/Maildir"}},
                    {"defaultDelivery", {"./Maildir/"}},
                    {"quota", {"10000000S,1000C"}},
                    {"cn", {"Alice Able", "Alice A."}},
                    {"userPassword", {"{SSHA}abc"}},
                    {"clearPassword", {"secret"}},
                    {"disableimap", {"1"}},
                    {"sharedgroup", {"staff"}}}};
}

LdapEntry with(LdapEntry e, const std::string& attribute, std::vector<std::string> values) {
  for (auto& [name, vals] : e.attributes)
    if (name == attribute) {
      vals = std::move(values);
      return e;
    }
  e.attributes.emplace_back(attribute, std::move(values));
  return e;
}

LdapEntry without(LdapEntry e, const std::string& attribute) {
  std::erase_if(e.attributes, [&](const auto& p) { return p.first == attribute; });
  return e;
}

TEST(LdapEntryToAccount, MapsEveryConfiguredAttribute) {
  ModuleReply r = ldap_entry_to_account(mapping_settings(), alice_entry(), "alice", "imap");
  ASSERT_EQ(r.outcome, Outcome::ok) << r.reason;
  const Account& a = r.account;
  EXPECT_EQ(a.address, "alice");
  EXPECT_EQ(a.uid, std::optional<uid_t>(10001));
  EXPECT_EQ(a.gid, 10000u);
  EXPECT_EQ(a.home, "/home/alice");
  EXPECT_EQ(a.maildir, "/home/alice/Maildir");
  EXPECT_EQ(a.quota, "10000000S,1000C");
  EXPECT_EQ(a.fullname, "Alice Able");  // the first of several values
  EXPECT_EQ(a.crypted_password, "{SSHA}abc");
  EXPECT_EQ(a.clear_password.reveal(), "secret");
  EXPECT_EQ(a.options, "disableimap=1,sharedgroup=staff");
}

TEST(LdapEntryToAccount, VariationsAsCourierDoes) {
  struct Case {
    const char* label;
    std::string extra_settings;
    LdapEntry entry;
    std::string service;
    std::function<void(const Account&)> check;
  };
  const Case cases[] = {
      {"courier reads LDAP_DEFAULTDELIVERY", "", alice_entry(), "courier",
       [](const Account& a) { EXPECT_EQ(a.maildir, "./Maildir/"); }},
      {"attribute names are case-insensitive", "", without(with(alice_entry(), "HOMEDIRECTORY", {"/h/A"}), "homeDirectory"),
       "imap", [](const Account& a) { EXPECT_EQ(a.home, "/h/A"); }},
      {"mailroot in front of a relative home", "LDAP_MAILROOT /var/mail\n",
       with(alice_entry(), "homeDirectory", {"example.com/alice"}), "imap",
       [](const Account& a) { EXPECT_EQ(a.home, "/var/mail/example.com/alice"); }},
      {"mailroot in front of an absolute home too", "LDAP_MAILROOT /var/mail\n", alice_entry(), "imap",
       [](const Account& a) { EXPECT_EQ(a.home, "/var/mail/home/alice"); }},
      {"glob ids when the entry has none", "LDAP_GLOB_UID 5000\nLDAP_GLOB_GID 6000\n",
       without(without(alice_entry(), "uidNumber"), "gidNumber"), "imap",
       [](const Account& a) {
         EXPECT_EQ(a.uid, std::optional<uid_t>(5000));
         EXPECT_EQ(a.gid, 6000u);
       }},
      {"the entry's ids win over glob ids", "LDAP_GLOB_UID 5000\nLDAP_GLOB_GID 6000\n", alice_entry(), "imap",
       [](const Account& a) { EXPECT_EQ(a.uid, std::optional<uid_t>(10001)); }},
      {"empty options are left out", "", with(alice_entry(), "disableimap", {""}), "imap",
       [](const Account& a) { EXPECT_EQ(a.options, "sharedgroup=staff"); }},
      {"no optional attributes", "",
       LdapEntry{"uid=min,dc=x", {{"uidNumber", {"7"}}, {"gidNumber", {"8"}}, {"homeDirectory", {"/m"}}}}, "imap",
       [](const Account& a) {
         EXPECT_EQ(a.maildir, "");
         EXPECT_EQ(a.options, "");
         EXPECT_TRUE(a.clear_password.empty());
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    ModuleReply r = ldap_entry_to_account(mapping_settings(c.extra_settings), c.entry, "alice", c.service);
    ASSERT_EQ(r.outcome, Outcome::ok) << r.reason;
    c.check(r.account);
  }
}

TEST(LdapEntryToAccount, BadEntriesAreRejectedNamingAttributeAndDn) {
  struct Case {
    const char* label;
    LdapEntry entry;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"no home", without(alice_entry(), "homeDirectory"), {"uid=alice,dc=x", "homeDirectory", "LDAP_HOMEDIR"}},
      {"empty home", with(alice_entry(), "homeDirectory", {""}), {"homeDirectory"}},
      {"relative home", with(alice_entry(), "homeDirectory", {"alice"}), {"relative", "LDAP_MAILROOT"}},
      {"no uid", without(alice_entry(), "uidNumber"), {"uid=alice,dc=x", "uidNumber", "LDAP_GLOB_UID"}},
      {"no gid", without(alice_entry(), "gidNumber"), {"gidNumber", "LDAP_GLOB_GID"}},
      {"uid not a number", with(alice_entry(), "uidNumber", {"alice"}), {"uidNumber", "not a number"}},
      {"negative uid", with(alice_entry(), "uidNumber", {"-1"}), {"uidNumber"}},
      {"uid too large", with(alice_entry(), "uidNumber", {"4294967295"}), {"uidNumber"}},
      {"uid overflow", with(alice_entry(), "uidNumber", {"99999999999999999999999"}), {"uidNumber"}},
      {"root uid", with(alice_entry(), "uidNumber", {"0"}), {"uid 0"}},
      {"root gid", with(alice_entry(), "gidNumber", {"0"}), {"gid 0"}},
      {"newline in the full name", with(alice_entry(), "cn", {"Alice\nUID=0"}), {"cn", "control character"}},
      {"newline in the home", with(alice_entry(), "homeDirectory", {"/home/a\nb"}), {"control character"}},
      {"control character in the quota", with(alice_entry(), "quota", {"1S\r"}), {"quota"}},
      {"comma in an option", with(alice_entry(), "sharedgroup", {"x,group=administrators"}),
       {"sharedgroup", "comma"}},
      {"control character in an option", with(alice_entry(), "sharedgroup", {"x\ty"}), {"sharedgroup"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    ModuleReply r = ldap_entry_to_account(mapping_settings(), c.entry, "alice", "imap");
    EXPECT_EQ(r.outcome, Outcome::rejected);
    for (const std::string& e : c.expected) EXPECT_NE(r.reason.find(e), std::string::npos) << r.reason;
  }
}

// ---------------------------------------------------------------------------
// The module, without a server

// A TCP port on 127.0.0.1 that is bound but not listening: connections to it
// are refused at once, and no other process can take it meanwhile.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    socklen_t len = sizeof sa;
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len), 0);
    port_ = ntohs(sa.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  std::string uri() const { return "ldap://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct ModuleFixture {
  testutil::TempDir dir;
  lib::Config authdaemonrc;
  std::unique_ptr<Module> module;

  lib::Result<std::unique_ptr<Module>> make(const std::string& authldaprc_text) {
    testutil::write_file(dir / "authldaprc", authldaprc_text);
    authdaemonrc.set("AUTHLDAPRC", dir / "authldaprc");
    return make_ldap_module(ModuleContext{authdaemonrc, dir.path()});
  }
  // Replaces the file under a new inode, as an editor that renames would.
  void rewrite(const std::string& text) {
    testutil::write_file(dir / "authldaprc.new", text);
    ASSERT_EQ(std::rename((dir / "authldaprc.new").c_str(), (dir / "authldaprc").c_str()), 0);
  }
};

std::string rc_for(const std::string& uri, const std::string& extra = "") {
  return "LDAP_URI " + uri + "\nLDAP_BASEDN dc=x\nLDAP_GLOB_UID 5000\nLDAP_GLOB_GID 5000\n" +
         "LDAP_CRYPTPW userPassword\nLDAP_TIMEOUT 5\n" + extra;
}

TEST(LdapModule, MissingOrBrokenFileFailsTheFactory) {
  ModuleFixture f;
  lib::Config rc;
  rc.set("AUTHLDAPRC", f.dir / "nonexistent");
  auto missing = make_ldap_module(ModuleContext{rc, f.dir.path()});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find(f.dir / "nonexistent"), std::string::npos) << missing.error().message;

  lib::Config none;  // no AUTHLDAPRC: sysconfdir/authldaprc
  auto default_path = make_ldap_module(ModuleContext{none, f.dir.path()});
  ASSERT_FALSE(default_path.ok());
  EXPECT_NE(default_path.error().message.find(f.dir / "authldaprc"), std::string::npos);

  auto broken = f.make("LDAP_URI ldap://h/\n");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find("LDAP_BASEDN"), std::string::npos) << broken.error().message;
}

TEST(LdapModule, UnreachableServerIsTemporaryAndNamesTheUri) {
  RefusingPort port;
  ModuleFixture f;
  auto m = f.make(rc_for(port.uri()));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m.value()->name(), "authldap");

  ModuleReply r = m.value()->lookup("alice@example.com", "imap");
  EXPECT_EQ(r.outcome, Outcome::temporary);
  EXPECT_NE(r.reason.find(port.uri()), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("Can't contact LDAP server"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("LDAP_URI ("), std::string::npos) << r.reason;

  AuthRequest req{"imap", "alice@example.com", secret("pw"), std::nullopt};
  EXPECT_EQ(m.value()->authenticate(req).outcome, Outcome::temporary);
  auto e = m.value()->enumerate([](const Account&) { ADD_FAILURE() << "nothing to list"; });
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(e.error().temporary());
  EXPECT_NE(e.error().message.find(port.uri()), std::string::npos);
}

TEST(LdapModule, HopelessRequestsAreRejectedWithoutAServer) {
  RefusingPort port;
  ModuleFixture f;
  auto m = f.make(rc_for(port.uri()));
  ASSERT_TRUE(m.ok()) << m.error().message;
  Module& mod = *m.value();
  struct Case {
    const char* label;
    std::string user;
    std::string password;
    std::string reason;
  };
  const Case cases[] = {
      {"empty password", "alice", "", "empty password"},
      {"empty login", "", "pw", "empty login name"},
      {"oversized login", std::string(ldap_max_login_bytes + 1, 'a'), "pw", "over the limit"},
      {"control character", "ali\nce", "pw", "control character"},
      {"NUL", std::string("ali\0ce", 6), "pw", "control character"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    AuthRequest req{"imap", c.user, secret(c.password), std::nullopt};
    ModuleReply r = mod.authenticate(req);
    EXPECT_EQ(r.outcome, Outcome::rejected);
    EXPECT_NE(r.reason.find(c.reason), std::string::npos) << r.reason;
  }
  ModuleReply r = mod.change_password("imap", "alice", secret("old"), secret("new"));
  EXPECT_EQ(r.outcome, Outcome::rejected);
  EXPECT_NE(r.reason.find("LDAP_AUTHBIND"), std::string::npos) << r.reason;
}

TEST(LdapModule, ChangedFileIsReadAgainAndABrokenOneIgnored) {
  RefusingPort first, second;
  ModuleFixture f;
  auto m = f.make(rc_for(first.uri()));
  ASSERT_TRUE(m.ok()) << m.error().message;
  Module& mod = *m.value();
  EXPECT_NE(mod.lookup("alice", "imap").reason.find(first.uri()), std::string::npos);

  f.rewrite("LDAP_URI " + second.uri() + "\n");  // no LDAP_BASEDN: unusable
  EXPECT_NE(mod.lookup("alice", "imap").reason.find(first.uri()), std::string::npos) << "old settings kept";

  f.rewrite(rc_for(second.uri()));
  EXPECT_NE(mod.lookup("alice", "imap").reason.find(second.uri()), std::string::npos) << "new settings used";
}

}  // namespace
}  // namespace authlib
