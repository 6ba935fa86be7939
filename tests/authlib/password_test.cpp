// tests/authlib/password_test.cpp: authlib/password.hpp against known-answer
// vectors. Sources: the SHA-crypt vectors from Drepper's specification
// ("Hello world!" / saltstring); `userdbpw` and `userdbpw -md5` of Debian's
// courier-authlib 0.71.4 ("tanstaaftanstaaf"); python3 hashlib/crypt and
// `openssl passwd` for the rest ("password"). Every {SCHEME} vector here was
// also accepted by Courier's own authcheckpassword (except {SSHA256} and
// {SSHA512}, which Courier does not read), and Courier's authcryptpasswd
// writes the unsalted ones byte for byte.
#include "authlib/password.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace {

using authlib::Scheme;
using namespace std::string_literals;

// Secrets from literals and strings alike (lib::Secret has constructors for
// both std::string_view and std::string&&, so a literal would be ambiguous).
lib::Secret make_secret(std::string_view text) { return lib::Secret(text); }

struct KnownAnswer {
  const char* label;
  std::string password;
  std::string stored;
  Scheme scheme;
};

const std::vector<KnownAnswer>& known_answers() {
  static const std::vector<KnownAnswer> cases = {
      {"yescrypt", "password",
       "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$tnSYvahCwPBHKZUspmcxMfb0.WiB9W.zEaKlOBL35rC",
       Scheme::yescrypt},
      {"sha512-crypt (Drepper)", "Hello world!",
       "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
       Scheme::sha512_crypt},
      {"sha256-crypt (Drepper)", "Hello world!",
       "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", Scheme::sha256_crypt},
      {"bcrypt $2b$", "password", "$2b$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu",
       Scheme::bcrypt},
      {"bcrypt $2y$", "password", "$2y$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu",
       Scheme::bcrypt},
      {"bcrypt $2a$", "password", "$2a$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu",
       Scheme::bcrypt},
      {"md5-crypt (openssl passwd -1)", "password", "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
       Scheme::md5_crypt},
      {"md5-crypt (Courier userdbpw -md5)", "tanstaaftanstaaf",
       "$1$Ys0G66an$vWXDmGOc4P1SiyvZ0eHrB.", Scheme::md5_crypt},
      {"des-crypt (Courier userdbpw)", "tanstaaftanstaaf", "XmdyATJVqRfXU", Scheme::des_crypt},
      {"{CRYPT} prefix", "password", "{CRYPT}$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
       Scheme::md5_crypt},
      {"{crypt} lower-case prefix", "Hello world!",
       "{crypt}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", Scheme::sha256_crypt},
      {"scrypt $7$ (other crypt)", "password",
       "$7$CU..../....abcdefghijklmnop$Sq.34kg1gPTFUeOPpE6fyMzMfdgqET/x8Nv3KaQxh9.",
       Scheme::other_crypt},
      {"gost-yescrypt $gy$ (other crypt)", "password",
       "$gy$j9T$saltsaltsalt$uUSkWWot34HclDCOr2v.m9p6NIXhkCZkXMA8g3ciV90", Scheme::other_crypt},
      {"BSDi _ (other crypt)", "password", "_J9..saltJW8FtKdEkNM", Scheme::other_crypt},
      {"{MD5}", "password", "{MD5}X03MO1qnZdYdgyfeuILPmQ==", Scheme::md5},
      {"{md5} lower-case prefix", "password", "{md5}X03MO1qnZdYdgyfeuILPmQ==", Scheme::md5},
      {"{MD5RAW}", "password", "{MD5RAW}5f4dcc3b5aa765d61d8327deb882cf99", Scheme::md5_raw},
      {"{MD5RAW} upper-case hex", "password", "{MD5RAW}5F4DCC3B5AA765D61D8327DEB882CF99",
       Scheme::md5_raw},
      {"{SHA}", "password", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", Scheme::sha1},
      {"{SSHA} 4-byte salt", "password", "{SSHA}ouUZQtFbhkQrfIJ43qx176Wfj4YBAgME", Scheme::ssha1},
      {"{SHA256}", "password", "{SHA256}XohImNooBHFR0OVvjcYpJ3NgPQ1qq73WKhHvch0VQtg=",
       Scheme::sha256},
      {"{SHA512}", "password",
       "{SHA512}sQnzu7wkTrgkQZF+0G1hi5AI3Qmzvv0bXgc5THBqi7mAsdd4Xll27ASbRt9fEyavWi6m0QP9B8lThf+"
       "rDKy8hg==",
       Scheme::sha512},
      {"{SSHA256} 8-byte salt", "password",
       "{SSHA256}DIzeh0gCRMTRu9dAH3C3rr7fWkRT0Bp2ZdtRqvTX3XJzYWx0c2FsdA==", Scheme::ssha256},
      {"{SSHA512} 8-byte salt", "password",
       "{SSHA512}9ZxHVj4YomwqqFiYKcIjExMLx2ZblYfXRGc4KMqbgvHq2+HOgwiTIi+eO/Uam/"
       "8D0beDAkGpvx14+UFlfBskLnNhbHRzYWx0",
       Scheme::ssha512},
  };
  return cases;
}

TEST(PasswordKnownAnswer, RightPasswordMatches) {
  for (const auto& c : known_answers()) {
    SCOPED_TRACE(c.label);
    EXPECT_TRUE(authlib::verify_password(make_secret(c.password), c.stored));
    EXPECT_EQ(authlib::detect_scheme(c.stored), c.scheme);
    EXPECT_EQ(authlib::describe_hash_problem(c.stored), "");
  }
}

TEST(PasswordKnownAnswer, WrongPasswordsFail) {
  for (const auto& c : known_answers()) {
    SCOPED_TRACE(c.label);
    std::string first_changed = c.password;
    first_changed.front() = static_cast<char>(first_changed.front() ^ 1);
    std::string last_changed = c.password;
    last_changed.back() = static_cast<char>(last_changed.back() ^ 1);
    std::vector<std::string> wrong = {
        "",                       // empty
        first_changed,            // one bit off
        c.password.substr(0, 7),  // shorter
        "PASSWORD",
    };
    // DES reads only 8 characters (DesReadsOnlyEightCharacters below).
    if (c.scheme != Scheme::des_crypt) {
      wrong.push_back(last_changed);
      wrong.push_back(c.password + "x");
      wrong.push_back(c.password + "\n");  // a stray newline
    }
    for (const auto& w : wrong) {
      EXPECT_FALSE(authlib::verify_password(make_secret(w), c.stored)) << "wrong: " << w.size();
    }
  }
}

TEST(PasswordKnownAnswer, DesReadsOnlyEightCharacters) {
  // Traditional DES ignores everything after the 8th byte; libxcrypt and
  // Courier agree, which is why DES must not be used for new hashes.
  EXPECT_TRUE(authlib::verify_password(make_secret("tanstaaf"), "XmdyATJVqRfXU"));
  EXPECT_TRUE(authlib::verify_password(make_secret("tanstaafXYZ"), "XmdyATJVqRfXU"));
  EXPECT_FALSE(authlib::verify_password(make_secret("tanstaa"), "XmdyATJVqRfXU"));
}

TEST(PasswordVerify, NulInPasswordNeverMatchesCrypt) {
  // A C-string backend would cut "password\0x" to "password"; here it fails.
  EXPECT_FALSE(authlib::verify_password(make_secret("password\0x"s),
                                        "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"));
  EXPECT_FALSE(
      authlib::verify_password(make_secret("password\0"s), "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"));
  // The digest schemes hash every byte, so the NUL makes it a different password.
  EXPECT_FALSE(authlib::verify_password(make_secret("password\0"s), "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="));
}

TEST(PasswordVerify, OverlongPasswordFailsWithoutCrash) {
  lib::Secret huge = make_secret(std::string(100000, 'a'));
  EXPECT_FALSE(authlib::verify_password(huge, "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"));
  EXPECT_FALSE(authlib::verify_password(huge, "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="));
}

struct Malformed {
  const char* label;
  std::string stored;
  std::string problem_contains;
};

TEST(PasswordMalformed, NeverMatchesAndIsDescribed) {
  const std::string sha512_ok =
      "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
  std::string sha512_bad_char = sha512_ok;
  sha512_bad_char.back() = '!';
  const std::vector<Malformed> cases = {
      {"empty", "", "empty"},
      {"unknown prefix", "{FOO}X03MO1qnZdYdgyfeuILPmQ==", "unknown prefix {FOO}"},
      {"prefix never closed", "{MD5X03MO1qnZdYdgyfeuILPmQ==", "no closing '}'"},
      {"MD5 without padding", "{MD5}X03MO1qnZdYdgyfeuILPmQ", "not valid base64"},
      {"MD5 truncated", "{MD5}X03MO1qnZdYdgyfeuILP", "the digest is 15 bytes; MD5 gives 16"},
      {"MD5 bad base64 character", "{MD5}X03MO1qnZdYdgyfeuIL*mQ==", "not valid base64"},
      {"MD5 trailing newline", "{MD5}X03MO1qnZdYdgyfeuILPmQ==\n", "control character"},
      {"MD5RAW 31 digits", "{MD5RAW}5f4dcc3b5aa765d61d8327deb882cf9", "32 hexadecimal digits"},
      {"MD5RAW non-hex", "{MD5RAW}5f4dcc3b5aa765d61d8327deb882cfzz", "32 hexadecimal digits"},
      {"MD5RAW 34 digits", "{MD5RAW}5f4dcc3b5aa765d61d8327deb882cf99aa",
       "the digest is 17 bytes"},
      {"SHA without padding", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g", "not valid base64"},
      {"SHA with inner space", "{SHA}W6ph5Mm5 Pz8GgiULbPgzG37mj9g=", "not valid base64"},
      {"SHA holding an MD5 digest", "{SHA}X03MO1qnZdYdgyfeuILPmQ==",
       "the digest is 16 bytes; SHA-1 gives 20"},
      {"SSHA without salt", "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
       "20 bytes decoded; SHA-1 gives 20, followed by 1 to 64 bytes of salt"},
      {"SSHA with 100 bytes of salt (too long)", "{SSHA}" + std::string(160, 'A'), "not valid base64"},
      {"SHA256 truncated", "{SHA256}XohImNooBHFR0OVvjcYpJ3NgPQ1qq73W", "gives 32"},
      {"SHA512 empty digest", "{SHA512}", "nothing follows the prefix"},
      {"CRYPT empty", "{CRYPT}", "nothing follows the {CRYPT} prefix"},
      {"sha512-crypt truncated", "$6$saltstring$svn8UoSVap", "truncated"},
      {"sha512-crypt garbage salt", "$6$!!!$abc", "crypt returned *0"},
      {"sha512-crypt bad character", sha512_bad_char, "crypt returned *0"},
      {"bcrypt truncated", "$2b$05$abc", "crypt returned *0"},
      {"bcrypt cost out of range",
       "$2b$99$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu", "crypt returned *0"},
      {"yescrypt without parameters", "$y$", "crypt returned *0"},
      {"unsupported $9$", "$9$abc$def", "not supported by libxcrypt"},
      {"no scheme at all", "garbage", "not a recognised password hash"},
      {"12-character DES", "XmdyATJVqRfX", "not a recognised password hash"},
      {"locked with !", "!" + sha512_ok, "locked"},
      {"no password *", "*", "locked"},
      {"leading space", " $1$saltsalt$qjXMvbEw8oaL.CzflDtaK/", "space"},
      {"embedded NUL", "$1$saltsalt\0$qjXMvbEw8oaL.CzflDtaK/"s, "control character"},
      {"oversize", "$1$" + std::string(5000, 'a'), "over the limit"},
  };
  const std::vector<std::string> passwords = {"password", "Hello world!", "", "tanstaaftanstaaf"};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    for (const auto& pw : passwords) EXPECT_FALSE(authlib::verify_password(make_secret(pw), c.stored));
    const std::string problem = authlib::describe_hash_problem(c.stored);
    EXPECT_NE(problem.find(c.problem_contains), std::string::npos) << problem;
  }
}

TEST(PasswordMalformed, ProblemNeverQuotesTheHash) {
  const std::string stored = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g";
  EXPECT_EQ(authlib::describe_hash_problem(stored).find("W6ph5Mm5"), std::string::npos);
}

TEST(PasswordDetect, Schemes) {
  struct Case {
    const char* label;
    std::string stored;
    Scheme scheme;
  };
  const std::vector<Case> cases = {
      {"empty", "", Scheme::unknown},
      {"unknown prefix", "{FOO}abc", Scheme::unknown},
      {"{SSHA} any case", "{sShA}abc", Scheme::ssha1},
      {"{CRYPT} around yescrypt", "{CRYPT}$y$j9T$abc$def", Scheme::yescrypt},
      {"{CRYPT} around {SHA} is not SHA", "{CRYPT}{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
       Scheme::unknown},
      {"$2x$", "$2x$05$abc", Scheme::bcrypt},
      {"DES", "abJnggxhB/yWI", Scheme::des_crypt},
      {"not DES: bad character", "abJnggxhB/yW!", Scheme::unknown},
      {"plain text", "password", Scheme::unknown},
      {"locked", "!$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/", Scheme::unknown},
      {"$sha1$ other crypt", "$sha1$40000$jtNX3nZ2$hBNaIXkt4wBI2o5rsi8KejSjNqIq",
       Scheme::other_crypt},
      {"unsupported $9$", "$9$abc", Scheme::unknown},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(authlib::detect_scheme(c.stored), c.scheme);
  }
}

TEST(PasswordNames, RoundTripAndRejectUnknown) {
  const std::vector<Scheme> all = {
      Scheme::yescrypt, Scheme::sha512_crypt, Scheme::sha256_crypt, Scheme::bcrypt,
      Scheme::md5_crypt, Scheme::des_crypt, Scheme::other_crypt, Scheme::md5,
      Scheme::md5_raw, Scheme::sha1, Scheme::ssha1, Scheme::sha256,
      Scheme::sha512, Scheme::ssha256, Scheme::ssha512};
  for (Scheme s : all) {
    SCOPED_TRACE(std::string(authlib::scheme_name(s)));
    auto back = authlib::scheme_from_name(authlib::scheme_name(s));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(authlib::scheme_from_name("SSHA"), Scheme::ssha1);
  EXPECT_EQ(authlib::scheme_name(Scheme::unknown), "unknown");
  EXPECT_FALSE(authlib::scheme_from_name("unknown").has_value());
  EXPECT_FALSE(authlib::scheme_from_name("").has_value());
  EXPECT_FALSE(authlib::scheme_from_name("sha3").has_value());
}

TEST(PasswordMake, EverySchemeVerifies) {
  struct Case {
    Scheme scheme;
    std::string prefix;
    bool salted;
  };
  const std::vector<Case> cases = {
      {Scheme::yescrypt, "$y$", true},      {Scheme::sha512_crypt, "$6$", true},
      {Scheme::sha256_crypt, "$5$", true},  {Scheme::bcrypt, "$2b$", true},
      {Scheme::md5_crypt, "$1$", true},     {Scheme::des_crypt, "", true},
      {Scheme::md5, "{MD5}", false},        {Scheme::md5_raw, "{MD5RAW}", false},
      {Scheme::sha1, "{SHA}", false},       {Scheme::ssha1, "{SSHA}", true},
      {Scheme::sha256, "{SHA256}", false},  {Scheme::sha512, "{SHA512}", false},
      {Scheme::ssha256, "{SSHA256}", true}, {Scheme::ssha512, "{SSHA512}", true},
  };
  const lib::Secret password = make_secret("correct horse battery staple");
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(authlib::scheme_name(c.scheme)));
    auto first = authlib::make_password_hash(password, c.scheme);
    ASSERT_TRUE(first.ok()) << first.error().message;
    auto second = authlib::make_password_hash(password, c.scheme);
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_EQ(first->rfind(c.prefix, 0), 0u) << *first;
    EXPECT_EQ(authlib::detect_scheme(*first), c.scheme);
    EXPECT_EQ(authlib::describe_hash_problem(*first), "");
    EXPECT_TRUE(authlib::verify_password(password, *first));
    EXPECT_FALSE(authlib::verify_password(make_secret("Correct horse battery staple"), *first));
    if (c.salted) {
      EXPECT_NE(*first, *second) << "a fresh salt every time";
    } else {
      EXPECT_EQ(*first, *second);
    }
  }
}

TEST(PasswordMake, DefaultIsYescrypt) {
  auto hash = authlib::make_password_hash(make_secret("secret"));
  ASSERT_TRUE(hash.ok()) << hash.error().message;
  EXPECT_EQ(hash->rfind("$y$", 0), 0u);
}

TEST(PasswordMake, SshaSaltIsFourBytesAsCourierReads) {
  auto hash = authlib::make_password_hash(make_secret("secret"), Scheme::ssha1);
  ASSERT_TRUE(hash.ok());
  // 20 bytes of SHA-1 + 4 of salt = 24 bytes = 32 base64 characters.
  EXPECT_EQ(hash->size(), std::string("{SSHA}").size() + 32);
}

TEST(PasswordMake, Refusals) {
  struct Case {
    const char* label;
    std::string password;
    Scheme scheme;
    std::string message_contains;
  };
  const std::vector<Case> cases = {
      {"empty password", "", Scheme::yescrypt, "empty password"},
      {"empty password, digest", "", Scheme::sha512, "empty password"},
      {"NUL for crypt", "pass\0word"s, Scheme::sha512_crypt, "NUL"},
      {"512 bytes for crypt", std::string(512, 'x'), Scheme::yescrypt, "at most 511"},
      {"unknown scheme", "secret", Scheme::unknown, "cannot make a password hash"},
      {"other crypt", "secret", Scheme::other_crypt, "cannot make a password hash"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto r = authlib::make_password_hash(make_secret(c.password), c.scheme);
    ASSERT_FALSE(r.ok());
    EXPECT_FALSE(r.error().temporary());
    EXPECT_NE(r.error().message.find(c.message_contains), std::string::npos) << r.error().message;
  }
  // A NUL is fine for the digest schemes, which hash every byte.
  auto digest = authlib::make_password_hash(make_secret("pass\0word"s), Scheme::ssha512);
  ASSERT_TRUE(digest.ok());
  EXPECT_TRUE(authlib::verify_password(make_secret("pass\0word"s), *digest));
  EXPECT_FALSE(authlib::verify_password(make_secret("pass"), *digest));
}

TEST(PasswordClear, ConstantTimeComparison) {
  EXPECT_TRUE(authlib::verify_clear(make_secret("tanstaaftanstaaf"), "tanstaaftanstaaf"));
  EXPECT_FALSE(authlib::verify_clear(make_secret("tanstaaftanstaaF"), "tanstaaftanstaaf"));
  EXPECT_FALSE(authlib::verify_clear(make_secret("tanstaaf"), "tanstaaftanstaaf"));
  EXPECT_FALSE(authlib::verify_clear(make_secret("tanstaaftanstaaf"), "tanstaaf"));
  EXPECT_FALSE(authlib::verify_clear(make_secret(""), ""));
  EXPECT_FALSE(authlib::verify_clear(make_secret("x"), ""));
  EXPECT_TRUE(authlib::verify_clear(make_secret("a\0b"s), "a\0b"s));
  EXPECT_FALSE(authlib::verify_clear(make_secret("a"), "a\0b"s));
}

TEST(PasswordVerify, ConcurrentThreadsAgree) {
  // crypt_rn with a crypt_data per call: no shared scratch between threads.
  const std::string md5 = "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/";
  const std::string sha = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5";
  std::vector<int> good(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        bool a = authlib::verify_password(make_secret("password"), t % 2 ? md5 : sha);
        bool b = authlib::verify_password(make_secret("Hello world!"), t % 2 ? sha : md5);
        if (a == (t % 2 == 1) && b == (t % 2 == 1)) ++good[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(good[t], 25) << "thread " << t;
}

}  // namespace

// check_password tells a wrong password apart from a hash that can never
// match, hashing once: describe_hash_problem is only for the unusable case.
TEST(CheckPassword, Verdicts) {
  auto good = authlib::make_password_hash(lib::Secret(std::string_view("right")), authlib::Scheme::sha512_crypt);
  ASSERT_TRUE(good);
  const lib::Secret right(std::string_view("right")), wrong(std::string_view("wrong"));
  EXPECT_EQ(authlib::check_password(right, *good), authlib::Verdict::match);
  EXPECT_EQ(authlib::check_password(wrong, *good), authlib::Verdict::mismatch);
  EXPECT_EQ(authlib::check_password(wrong, good->substr(0, good->size() - 3)), authlib::Verdict::unusable);
  EXPECT_EQ(authlib::check_password(wrong, "{FOO}abc"), authlib::Verdict::unusable);
  EXPECT_EQ(authlib::check_password(wrong, "{SHA}not base64!"), authlib::Verdict::unusable);
  EXPECT_EQ(authlib::check_password(wrong, "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M="), authlib::Verdict::mismatch);
  EXPECT_EQ(authlib::check_password(lib::Secret(std::string_view("test")), "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M="),
            authlib::Verdict::match);
  EXPECT_EQ(authlib::check_password(wrong, ""), authlib::Verdict::unusable);
}
