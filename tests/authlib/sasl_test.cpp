// tests/authlib/sasl_test.cpp: authlib/sasl.hpp. Vectors: RFC 4648 section
// 10 (base64), RFC 4616 section 4 (PLAIN), RFC 2195 section 2 (CRAM-MD5);
// CRAM-SHA1/SHA256 digests from python3's hmac module; the precomputed
// hmac-*pw secrets from `userdbpw -hmac-md5/-hmac-sha1/-hmac-sha256` of
// Debian's courier-authlib 0.71.4, checked there with Courier's own
// auth_verify_cram against the same digests.
#include "authlib/sasl.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace sasl = authlib::sasl;
using sasl::CramHash;
using sasl::Problem;
using namespace std::string_literals;

// Secrets from literals and strings alike (lib::Secret has constructors for
// both std::string_view and std::string&&, so a literal would be ambiguous).
lib::Secret make_secret(std::string_view text) { return lib::Secret(text); }

const std::string rfc2195_challenge = "<1896.697170952@postoffice.reston.mci.net>";
const std::string rfc2195_challenge_b64 = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
const std::string rfc2195_response_b64 = "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw";
const lib::Secret rfc2195_secret = make_secret("tanstaaftanstaaf");
const std::string long_secret = std::string(70, 'k') + "long-secret-longer-than-a-block";

// --- base64 ----------------------------------------------------------------

TEST(SaslBase64, Rfc4648Vectors) {
  struct Case {
    std::string bytes, text;
  };
  const std::vector<Case> cases = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},       {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(sasl::encode_base64(c.bytes), c.text);
    EXPECT_EQ(sasl::encode_base64_secret(c.bytes).reveal(), c.text);
    auto d = sasl::decode_base64(c.text);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d.value(), c.bytes);
    auto s = sasl::decode_base64_secret(c.text);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->reveal(), c.bytes);
  }
}

TEST(SaslBase64, AllByteValuesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t len : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{255}, size_t{256}}) {
    auto d = sasl::decode_base64(sasl::encode_base64(all.substr(0, len)));
    ASSERT_TRUE(d.ok()) << len;
    EXPECT_EQ(d.value(), all.substr(0, len));
  }
}

TEST(SaslBase64, LargeInputEncodesInChunks) {
  std::string big(200000, '\xa5');
  std::string text = sasl::encode_base64(big);
  EXPECT_EQ(text.size(), (big.size() + 2) / 3 * 4);
  auto d = sasl::decode_base64(text, big.size());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value(), big);
}

TEST(SaslBase64, RejectsMalformed) {
  struct Case {
    const char* label;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"length not a multiple of 4", "Zg="},
      {"missing padding", "Zg"},
      {"three pads", "Z==="},
      {"only padding", "===="},
      {"pad in the middle", "Zg=a"},
      {"pad at the start", "=Zg="},
      {"pad then data", "Zg==Zm9v"},
      {"too much padding", "Zm9v===="},
      {"trailing newline", "Zm9v\n"},
      {"CRLF", "Zm9v\r\n"},
      {"leading space", " Zm9v"},
      {"inner space", "Zm 9v"},
      {"tab", "Zm9v\tZm9v"},
      {"url-safe alphabet", "Zm9-Yg__"},
      {"non-canonical one pad", "Zm9="},
      {"non-canonical two pads", "Zh=="},
      {"8-bit bytes", "\xff\xfe\xfd\xfc"},
      {"NUL inside", "Zm\0v"s},
      {"asterisk", "*"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto d = sasl::decode_base64(c.text);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.problem(), Problem::bad_base64);
    EXPECT_FALSE(sasl::decode_base64_secret(c.text).ok());
  }
}

TEST(SaslBase64, HardSizeLimits) {
  EXPECT_TRUE(sasl::decode_base64("Zm9v", 3).ok());
  auto over = sasl::decode_base64("Zm9vYg==", 3);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.problem(), Problem::too_long);
  // The default limit is max_message_bytes.
  std::string at_limit = sasl::encode_base64(std::string(sasl::max_message_bytes, 'a'));
  EXPECT_TRUE(sasl::decode_base64(at_limit).ok());
  std::string one_over = sasl::encode_base64(std::string(sasl::max_message_bytes + 1, 'a'));
  EXPECT_EQ(sasl::decode_base64(one_over).problem(), Problem::too_long);
  // A hostile megabyte is refused on its size, even though it is garbage.
  std::string huge(1 << 20, '!');
  EXPECT_EQ(sasl::decode_base64(huge).problem(), Problem::too_long);
}

TEST(SaslHex, EncodeDecode) {
  EXPECT_EQ(sasl::encode_hex("\x00\x01\xab\xff"s), "0001abff");
  auto d = sasl::decode_hex("0001ABff");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value(), "\x00\x01\xab\xff"s);
  EXPECT_EQ(sasl::decode_hex("abc").problem(), Problem::bad_digest);
  EXPECT_EQ(sasl::decode_hex("zz").problem(), Problem::bad_digest);
  EXPECT_EQ(sasl::decode_hex(" a").problem(), Problem::bad_digest);
  EXPECT_EQ(sasl::decode_hex("aabb", 1).problem(), Problem::too_long);
}

TEST(SaslLines, CancelAndInitialResponse) {
  EXPECT_TRUE(sasl::is_cancel("*"));
  EXPECT_FALSE(sasl::is_cancel("* "));
  EXPECT_FALSE(sasl::is_cancel("Kg=="));
  auto empty = sasl::decode_initial_response("=");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  auto foo = sasl::decode_initial_response("Zm9v");
  ASSERT_TRUE(foo.ok());
  EXPECT_EQ(foo->reveal(), "foo");
  EXPECT_EQ(sasl::decode_initial_response("").problem(), Problem::empty);
  EXPECT_EQ(sasl::decode_initial_response("==").problem(), Problem::bad_base64);
}

TEST(SaslMechanisms, Names) {
  EXPECT_EQ(sasl::mechanism_from_name("plain"), sasl::Mechanism::plain);
  EXPECT_EQ(sasl::mechanism_from_name("Cram-Md5"), sasl::Mechanism::cram_md5);
  EXPECT_EQ(sasl::mechanism_from_name("CRAM-SHA256"), sasl::Mechanism::cram_sha256);
  EXPECT_EQ(sasl::mechanism_from_name("EXTERNAL"), sasl::Mechanism::external);
  for (const char* bad : {"", "CRAM-MD4", "PLAIN ", "LOGINX", "DIGEST-MD5"}) {
    EXPECT_FALSE(sasl::mechanism_from_name(bad).has_value()) << bad;
  }
  for (auto m : {sasl::Mechanism::plain, sasl::Mechanism::login, sasl::Mechanism::cram_md5,
                 sasl::Mechanism::cram_sha1, sasl::Mechanism::cram_sha256,
                 sasl::Mechanism::external}) {
    EXPECT_EQ(sasl::mechanism_from_name(sasl::mechanism_name(m)), m);
  }
}

// --- PLAIN -----------------------------------------------------------------

TEST(SaslPlain, Rfc4616Examples) {
  auto b = sasl::decode_base64_secret("AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  ASSERT_TRUE(b.ok());
  auto p = sasl::parse_plain(b->reveal());
  ASSERT_TRUE(p.ok()) << sasl::problem_text(p.problem());
  EXPECT_EQ(p->authzid, "");
  EXPECT_EQ(p->authcid, "tim");
  EXPECT_EQ(p->password.reveal(), "tanstaaftanstaaf");

  auto q = sasl::parse_plain("Ursel\0Kurt\0xipj3plmq"s);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->authzid, "Ursel");
  EXPECT_EQ(q->authcid, "Kurt");
  EXPECT_EQ(q->password.reveal(), "xipj3plmq");
}

TEST(SaslPlain, AcceptsUtf8AndLimits) {
  std::string name(sasl::max_identity_bytes, 'u');
  std::string pw(sasl::max_password_bytes, 'p');
  auto p = sasl::parse_plain("\0"s + name + "\0"s + pw);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->authcid, name);
  auto u = sasl::parse_plain("\0j\xc3\xbcrgen@example.org\0p\xc3\xa4ss w\x01rd"s);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->authcid, "j\xc3\xbcrgen@example.org");
  EXPECT_EQ(u->password.reveal(), "p\xc3\xa4ss w\x01rd");
}

TEST(SaslPlain, RejectsHostileInput) {
  struct Case {
    const char* label;
    std::string message;
    Problem problem;
  };
  const std::vector<Case> cases = {
      {"empty", "", Problem::empty},
      {"no NUL", "timtanstaaf", Problem::missing_nul},
      {"one NUL", "\0tim"s, Problem::missing_nul},
      {"one NUL, password-like", "tim\0tanstaaf"s, Problem::missing_nul},
      {"three NULs", "\0tim\0pw\0extra"s, Problem::extra_nul},
      {"ten NULs", std::string(10, '\0'), Problem::extra_nul},
      {"only two NULs", "\0\0"s, Problem::empty_authcid},
      {"empty authcid", "\0\0pw"s, Problem::empty_authcid},
      {"empty password", "\0tim\0"s, Problem::empty_password},
      {"authcid too long", "\0"s + std::string(sasl::max_identity_bytes + 1, 'u') + "\0pw"s,
       Problem::too_long},
      {"authzid too long", std::string(sasl::max_identity_bytes + 1, 'z') + "\0tim\0pw"s,
       Problem::too_long},
      {"password too long", "\0tim\0"s + std::string(sasl::max_password_bytes + 1, 'p'),
       Problem::too_long},
      {"message too long", "\0tim\0"s + std::string(sasl::max_message_bytes, 'p'),
       Problem::too_long},
      {"CRLF in authcid", "\0tim\r\nA001 LOGOUT\0pw"s, Problem::bad_character},
      {"tab in authzid", "a\tb\0tim\0pw"s, Problem::bad_character},
      {"LF in password", "\0tim\0pass\nword"s, Problem::bad_character},
      {"CR in password", "\0tim\0pass\rword"s, Problem::bad_character},
      {"DEL in authcid", "\0ti\x7fm\0pw"s, Problem::bad_character},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto p = sasl::parse_plain(c.message);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.problem(), c.problem) << sasl::problem_text(p.problem());
  }
}

TEST(SaslPlain, ClientEncodeRoundTrips) {
  auto e = sasl::encode_plain("", "tim", make_secret("tanstaaftanstaaf"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->reveal(), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  EXPECT_EQ(sasl::encode_plain("", "t\0m"s, make_secret("pw")).problem(), Problem::extra_nul);
  EXPECT_EQ(sasl::encode_plain("", "tim", make_secret("")).problem(), Problem::empty_password);
  EXPECT_EQ(sasl::encode_plain("", "", make_secret("pw")).problem(), Problem::empty_authcid);
}

// --- LOGIN -----------------------------------------------------------------

TEST(SaslLogin, TwoStepExchange) {
  EXPECT_EQ(sasl::decode_base64(sasl::login_username_prompt).value(), "Username:");
  EXPECT_EQ(sasl::decode_base64(sasl::login_password_prompt).value(), "Password:");
  sasl::LoginExchange ex;
  EXPECT_EQ(ex.challenge(), sasl::login_username_prompt);
  EXPECT_FALSE(ex.done());
  ASSERT_TRUE(ex.respond(sasl::encode_base64("tim")).ok());
  EXPECT_EQ(ex.challenge(), sasl::login_password_prompt);
  EXPECT_FALSE(ex.done());
  ASSERT_TRUE(ex.respond(sasl::encode_base64("tanstaaftanstaaf")).ok());
  EXPECT_TRUE(ex.done());
  EXPECT_EQ(ex.challenge(), "");
  EXPECT_EQ(ex.username(), "tim");
  EXPECT_EQ(ex.password().reveal(), "tanstaaftanstaaf");
}

TEST(SaslLogin, RejectsHostileAnswers) {
  struct Case {
    const char* label;
    bool at_password;  // answer the password prompt instead of the user name
    std::string answer_b64;
    Problem problem;
  };
  const std::vector<Case> cases = {
      {"bad base64 user", false, "dGlt!", Problem::bad_base64},
      {"empty user", false, "", Problem::empty_username},
      {"user with LF", false, sasl::encode_base64("tim\nx"), Problem::bad_character},
      {"user too long", false, sasl::encode_base64(std::string(sasl::max_identity_bytes + 1, 'u')),
       Problem::too_long},
      {"bad base64 password", true, "cGFzcw=", Problem::bad_base64},
      {"empty password", true, "", Problem::empty_password},
      {"password with CR", true, sasl::encode_base64("pa\rss"), Problem::bad_character},
      {"password with NUL", true, sasl::encode_base64("pa\0ss"s), Problem::bad_character},
      {"password too long", true,
       sasl::encode_base64(std::string(sasl::max_password_bytes + 1, 'p')), Problem::too_long},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    sasl::LoginExchange ex;
    if (c.at_password) {
      ASSERT_TRUE(ex.respond("dGlt").ok());
    }
    auto r = ex.respond(c.answer_b64);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.problem(), c.problem) << sasl::problem_text(r.problem());
    EXPECT_FALSE(ex.done());
    EXPECT_TRUE(ex.password().empty());
  }
}

// --- EXTERNAL --------------------------------------------------------------

TEST(SaslExternal, OptionalAuthzid) {
  EXPECT_EQ(sasl::parse_external("").value(), "");
  EXPECT_EQ(sasl::parse_external("admin@example.org").value(), "admin@example.org");
  EXPECT_EQ(sasl::parse_external("ad\0min"s).problem(), Problem::bad_character);
  EXPECT_EQ(sasl::parse_external("admin\r\n").problem(), Problem::bad_character);
  EXPECT_EQ(sasl::parse_external(std::string(sasl::max_identity_bytes + 1, 'a')).problem(),
            Problem::too_long);
}

// --- CRAM ------------------------------------------------------------------

struct CramVector {
  CramHash hash;
  std::string secret;
  std::string digest_hex;
  std::string courier_precomputed;  // userdbpw -hmac-<hash>
};

const std::vector<CramVector>& cram_vectors() {
  static const std::vector<CramVector> v = {
      {CramHash::md5, "tanstaaftanstaaf", "b913a602c7eda7a495b4e6e7334d3890",
       "d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b"},
      {CramHash::sha1, "tanstaaftanstaaf", "8cb10ed0a8b764ab0e05125dd6eaa295f19b5943",
       "72724befb173b1ee5f79c09801b9b15e11d805fe02b49c1d1d00921723b52bcb862c04fa52876446"},
      {CramHash::sha256, "tanstaaftanstaaf",
       "f0011bbf7c1618ef90e3f18148e5eda4e15631c9c38ebef062bf7143ff72e944",
       "0dc4407ecdb637a66615a85f4d5632c459c57a86c2038fdd81a8804bc34a93695325d19c44d48eabed0476"
       "bc8078e0987eeaf4fff2267de3e00f539ba83f6225"},
      {CramHash::md5, long_secret, "9bdd638c69057a605c3bc0f616caf36f",
       "56c325d745e10408fa44be52f0f114e957c1c00039ec5eef2a782a0811f10f17"},
      {CramHash::sha1, long_secret, "23e20364b6bbfc6e836da6cb8df286bba5d246a5",
       "dcbe2d1c5a1c62311d87aa0a57a203c1b80a2bfc6bf3096c6d41abdbdd114b1c00da13e850008070"},
      {CramHash::sha256, long_secret,
       "7f00b73d3e5aa25bcf6ea713be3ec114a3c90f0c18d5e6b38fb28ce2e68bf5cc",
       "4b3dbb970b18dfe66be65532fdd222d91171a621a17cbc74ddce27d4266a09a78d563a5a97f9af7ff14d09"
       "0501b4f806546643da02c2c2d8acc563f040c59345"},
  };
  return v;
}

std::string label(const CramVector& v) {
  return std::string(sasl::cram_hash_name(v.hash)) + (v.secret.size() > 64 ? " long key" : "");
}

TEST(SaslCram, Rfc2195Example) {
  auto ex = sasl::decode_cram(CramHash::md5, rfc2195_challenge_b64, rfc2195_response_b64);
  ASSERT_TRUE(ex.ok()) << sasl::problem_text(ex.problem());
  EXPECT_EQ(ex->challenge, rfc2195_challenge);
  EXPECT_EQ(ex->username, "tim");
  EXPECT_EQ(sasl::encode_hex(ex->digest), "b913a602c7eda7a495b4e6e7334d3890");
  EXPECT_TRUE(sasl::verify_cram(*ex, rfc2195_secret));
  EXPECT_FALSE(sasl::verify_cram(*ex, make_secret("tanstaaftanstaaF")));
  EXPECT_FALSE(sasl::verify_cram(*ex, make_secret("")));

  auto client = sasl::cram_client_response(CramHash::md5, "tim", rfc2195_secret, rfc2195_challenge);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(sasl::encode_base64(client->reveal()), rfc2195_response_b64);
}

TEST(SaslCram, KnownAnswersWithClearSecret) {
  for (const auto& v : cram_vectors()) {
    SCOPED_TRACE(label(v));
    auto ex = sasl::parse_cram_response(v.hash, rfc2195_challenge, "tim " + v.digest_hex);
    ASSERT_TRUE(ex.ok());
    EXPECT_TRUE(sasl::verify_cram(*ex, make_secret(v.secret)));
    EXPECT_FALSE(sasl::verify_cram(*ex, make_secret(v.secret + "x")));
    auto client = sasl::cram_client_response(v.hash, "tim", make_secret(v.secret), rfc2195_challenge);
    ASSERT_TRUE(client.ok());
    EXPECT_EQ(client->reveal(), "tim " + v.digest_hex);
    // Another challenge, same secret: must not verify (no replay).
    auto other = sasl::parse_cram_response(v.hash, "<1.2@other.example>", "tim " + v.digest_hex);
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(sasl::verify_cram(*other, make_secret(v.secret)));
  }
}

TEST(SaslCram, CourierPrecomputedSecrets) {
  for (const auto& v : cram_vectors()) {
    SCOPED_TRACE(label(v));
    auto made = sasl::make_cram_precomputed(v.hash, make_secret(v.secret));
    ASSERT_TRUE(made.ok()) << made.error().message;
    EXPECT_EQ(*made, v.courier_precomputed);

    auto ex = sasl::parse_cram_response(v.hash, rfc2195_challenge, "tim " + v.digest_hex);
    ASSERT_TRUE(ex.ok());
    EXPECT_TRUE(sasl::verify_cram_precomputed(*ex, v.courier_precomputed));
    std::string upper = v.courier_precomputed;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_TRUE(sasl::verify_cram_precomputed(*ex, upper));

    // Any change to the stored state, or outer and inner swapped, fails.
    std::string flipped = v.courier_precomputed;
    flipped[5] = flipped[5] == '0' ? '1' : '0';
    EXPECT_FALSE(sasl::verify_cram_precomputed(*ex, flipped));
    const size_t half = v.courier_precomputed.size() / 2;
    EXPECT_FALSE(sasl::verify_cram_precomputed(
        *ex, v.courier_precomputed.substr(half) + v.courier_precomputed.substr(0, half)));
    // Malformed stored values.
    EXPECT_FALSE(sasl::verify_cram_precomputed(*ex, ""));
    EXPECT_FALSE(sasl::verify_cram_precomputed(*ex, v.courier_precomputed.substr(1)));
    EXPECT_FALSE(sasl::verify_cram_precomputed(*ex, v.courier_precomputed + "0"));
    std::string nonhex = v.courier_precomputed;
    nonhex[0] = 'g';
    EXPECT_FALSE(sasl::verify_cram_precomputed(*ex, nonhex));
    EXPECT_FALSE(sasl::verify_cram_precomputed(*ex, v.secret));
  }
}

TEST(SaslCram, PrecomputedOfTheWrongHashFails) {
  const auto& md5 = cram_vectors()[0];
  const auto& sha1 = cram_vectors()[1];
  auto ex = sasl::parse_cram_response(CramHash::sha1, rfc2195_challenge, "tim " + sha1.digest_hex);
  ASSERT_TRUE(ex.ok());
  EXPECT_FALSE(sasl::verify_cram_precomputed(*ex, md5.courier_precomputed));
}

TEST(SaslCram, PrecomputedRefusesEmptySecret) {
  auto r = sasl::make_cram_precomputed(CramHash::md5, make_secret(""));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("hmac-md5pw"), std::string::npos);
  EXPECT_FALSE(sasl::cram_client_response(CramHash::md5, "tim", make_secret(""), "<1@x>").ok());
}

TEST(SaslCram, ResponseParsing) {
  const std::string d = "b913a602c7eda7a495b4e6e7334d3890";
  auto spaced = sasl::parse_cram_response(CramHash::md5, rfc2195_challenge, "tim smith " + d);
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(spaced->username, "tim smith");
  auto upper = sasl::parse_cram_response(CramHash::md5, rfc2195_challenge,
                                         "tim B913A602C7EDA7A495B4E6E7334D3890");
  ASSERT_TRUE(upper.ok());
  EXPECT_TRUE(sasl::verify_cram(*upper, rfc2195_secret));

  struct Case {
    const char* label;
    CramHash hash;
    std::string challenge;
    std::string response;
    Problem problem;
  };
  const std::vector<Case> cases = {
      {"empty response", CramHash::md5, rfc2195_challenge, "", Problem::empty},
      {"empty challenge", CramHash::md5, "", "tim " + d, Problem::empty},
      {"no space", CramHash::md5, rfc2195_challenge, "tim" + d, Problem::missing_space},
      {"empty user", CramHash::md5, rfc2195_challenge, " " + d, Problem::empty_username},
      {"digest too short", CramHash::md5, rfc2195_challenge, "tim " + d.substr(1),
       Problem::bad_digest},
      {"digest too long", CramHash::md5, rfc2195_challenge, "tim " + d + "00", Problem::bad_digest},
      {"digest not hex", CramHash::md5, rfc2195_challenge,
       "tim b913a602c7eda7a495b4e6e7334d38zz", Problem::bad_digest},
      {"md5 digest for sha1", CramHash::sha1, rfc2195_challenge, "tim " + d, Problem::bad_digest},
      {"trailing space", CramHash::md5, rfc2195_challenge, "tim " + d + " ", Problem::bad_digest},
      {"control in user", CramHash::md5, rfc2195_challenge, "t\x01m " + d, Problem::bad_character},
      {"NUL in user", CramHash::md5, rfc2195_challenge, "t\0m "s + d, Problem::bad_character},
      {"user too long", CramHash::md5, rfc2195_challenge,
       std::string(sasl::max_identity_bytes + 1, 'u') + " " + d, Problem::too_long},
      {"response too long", CramHash::md5, rfc2195_challenge,
       std::string(sasl::max_message_bytes + 1, 'u'), Problem::too_long},
      {"challenge too long", CramHash::md5, std::string(sasl::max_challenge_bytes + 1, 'c'),
       "tim " + d, Problem::too_long},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto r = sasl::parse_cram_response(c.hash, c.challenge, c.response);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.problem(), c.problem) << sasl::problem_text(r.problem());
  }
}

TEST(SaslCram, DecodeRejectsBadBase64) {
  EXPECT_EQ(sasl::decode_cram(CramHash::md5, "PDE4OTYu!", rfc2195_response_b64).problem(),
            Problem::bad_base64);
  EXPECT_EQ(sasl::decode_cram(CramHash::md5, rfc2195_challenge_b64, "dGlt IGI5").problem(),
            Problem::bad_base64);
  EXPECT_EQ(sasl::decode_cram(CramHash::md5, "", rfc2195_response_b64).problem(), Problem::empty);
  EXPECT_EQ(sasl::decode_cram(CramHash::md5, rfc2195_challenge_b64, "").problem(), Problem::empty);
  EXPECT_EQ(sasl::decode_cram(CramHash::md5,
                              sasl::encode_base64(std::string(sasl::max_challenge_bytes + 1, 'c')),
                              rfc2195_response_b64)
                .problem(),
            Problem::too_long);
}

TEST(SaslCram, ChallengeForm) {
  auto a = sasl::make_cram_challenge("postoffice.example.org");
  auto b = sasl::make_cram_challenge("postoffice.example.org");
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok());
  // "<digits.digits@postoffice.example.org>" (std::regex is avoided: GCC 12
  // warns inside it at -O2).
  auto well_formed = [](const std::string& c) {
    const std::string tail = "@postoffice.example.org>";
    if (c.size() < tail.size() + 4 || c.front() != '<' ||
        c.compare(c.size() - tail.size(), tail.size(), tail) != 0) {
      return false;
    }
    const std::string middle = c.substr(1, c.size() - tail.size() - 1);
    const size_t dot = middle.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == middle.size()) return false;
    for (size_t i = 0; i < middle.size(); ++i) {
      if (i != dot && (middle[i] < '0' || middle[i] > '9')) return false;
    }
    return true;
  };
  EXPECT_TRUE(well_formed(*a)) << *a;
  EXPECT_FALSE(well_formed("<12@postoffice.example.org>"));
  EXPECT_FALSE(well_formed("<1.2@other.example.org>"));
  EXPECT_NE(*a, *b) << "the random part differs";
  EXPECT_LE(a->size(), sasl::max_challenge_bytes);

  for (std::string bad : {""s, "bad host"s, "a>b"s, "a@b"s, "x\n"s, std::string(254, 'h')}) {
    auto r = sasl::make_cram_challenge(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_FALSE(r.error().temporary());
    EXPECT_NE(r.error().message.find("host name"), std::string::npos);
  }
}

TEST(SaslCram, Names) {
  EXPECT_EQ(sasl::cram_authtype(CramHash::sha1), "cram-sha1");
  EXPECT_EQ(sasl::cram_userdb_field(CramHash::md5), "hmac-md5pw");
  EXPECT_EQ(sasl::cram_userdb_field(CramHash::sha256), "hmac-sha256pw");
  EXPECT_EQ(sasl::cram_digest_bytes(CramHash::sha256), 32u);
}

// --- authdaemon payload ----------------------------------------------------

TEST(SaslAuthPayload, LoginRoundTrip) {
  sasl::AuthRequest req{"imap", sasl::LoginFields{"tim", make_secret("tanstaaftanstaaf")}};
  auto built = sasl::build_auth_payload(req);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(built->reveal(), "imap\nlogin\ntim\ntanstaaftanstaaf\n");
  auto parsed = sasl::parse_auth_payload(built->reveal());
  ASSERT_TRUE(parsed.ok()) << sasl::problem_text(parsed.problem());
  EXPECT_EQ(parsed->service, "imap");
  const auto* login = std::get_if<sasl::LoginFields>(&parsed->fields);
  ASSERT_NE(login, nullptr);
  EXPECT_EQ(login->username, "tim");
  EXPECT_EQ(login->password.reveal(), "tanstaaftanstaaf");
}

TEST(SaslAuthPayload, CramRoundTrip) {
  for (CramHash h : {CramHash::md5, CramHash::sha1, CramHash::sha256}) {
    sasl::AuthRequest req{"esmtp", sasl::CramFields{h, rfc2195_challenge_b64, rfc2195_response_b64}};
    auto built = sasl::build_auth_payload(req);
    ASSERT_TRUE(built.ok());
    EXPECT_EQ(built->reveal(), "esmtp\n" + std::string(sasl::cram_authtype(h)) + "\n" +
                                   rfc2195_challenge_b64 + "\n" + rfc2195_response_b64 + "\n");
    auto parsed = sasl::parse_auth_payload(built->reveal());
    ASSERT_TRUE(parsed.ok());
    const auto* cram = std::get_if<sasl::CramFields>(&parsed->fields);
    ASSERT_NE(cram, nullptr);
    EXPECT_EQ(cram->hash, h);
    EXPECT_EQ(cram->challenge_b64, rfc2195_challenge_b64);
    EXPECT_EQ(cram->response_b64, rfc2195_response_b64);
  }
  // authdaemond's path: payload -> decoded exchange -> verified.
  auto parsed = sasl::parse_auth_payload(
      "imap\ncram-md5\n" + rfc2195_challenge_b64 + "\n" + rfc2195_response_b64 + "\n");
  ASSERT_TRUE(parsed.ok());
  const auto& cram = std::get<sasl::CramFields>(parsed->fields);
  auto ex = sasl::decode_cram(cram.hash, cram.challenge_b64, cram.response_b64);
  ASSERT_TRUE(ex.ok());
  EXPECT_TRUE(sasl::verify_cram_precomputed(*ex, cram_vectors()[0].courier_precomputed));
}

TEST(SaslAuthPayload, ParseLeniencies) {
  // The final newline is optional, as in Courier; authtypes are case-insensitive.
  auto a = sasl::parse_auth_payload("pop3\nlogin\ntim\npw");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(std::get<sasl::LoginFields>(a->fields).password.reveal(), "pw");
  auto b = sasl::parse_auth_payload("pop3\nLOGIN\ntim\npw\n");
  ASSERT_TRUE(b.ok());
  auto c = sasl::parse_auth_payload("imap\nCRAM-SHA1\n" + rfc2195_challenge_b64 + "\n" +
                                    rfc2195_response_b64);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(std::get<sasl::CramFields>(c->fields).hash, CramHash::sha1);
}

TEST(SaslAuthPayload, RejectsHostilePayloads) {
  const std::string cb = rfc2195_challenge_b64;
  const std::string rb = rfc2195_response_b64;
  struct Case {
    const char* label;
    std::string payload;
    Problem problem;
  };
  const std::vector<Case> cases = {
      {"empty", "", Problem::empty},
      {"service only", "imap\n", Problem::missing_field},
      {"no password line", "imap\nlogin\ntim", Problem::missing_field},
      {"extra field", "imap\nlogin\ntim\npw\nextra", Problem::extra_field},
      {"extra empty line", "imap\nlogin\ntim\npw\n\n", Problem::extra_field},
      {"unknown authtype", "imap\nplain\ntim\npw\n", Problem::unknown_authtype},
      {"cram-md4", "imap\ncram-md4\n" + cb + "\n" + rb + "\n", Problem::unknown_authtype},
      {"empty service", "\nlogin\ntim\npw\n", Problem::bad_service},
      {"service with space", "im ap\nlogin\ntim\npw\n", Problem::bad_service},
      {"service with slash", "../x\nlogin\ntim\npw\n", Problem::bad_service},
      {"service too long", std::string(sasl::max_service_bytes + 1, 's') + "\nlogin\ntim\npw\n",
       Problem::bad_service},
      {"empty user", "imap\nlogin\n\npw\n", Problem::empty_username},
      {"empty password", "imap\nlogin\ntim\n\n", Problem::empty_password},
      {"CR in user", "imap\nlogin\ntim\r\npw\n", Problem::bad_character},
      {"NUL in password", "imap\nlogin\ntim\np\0w\n"s, Problem::bad_character},
      {"user too long", "imap\nlogin\n" + std::string(sasl::max_identity_bytes + 1, 'u') + "\npw\n",
       Problem::too_long},
      {"cram bad base64", "imap\ncram-md5\n" + cb + "\n" + rb + "!\n", Problem::bad_base64},
      {"cram empty challenge", "imap\ncram-md5\n\n" + rb + "\n", Problem::empty},
      {"payload too long", "imap\nlogin\ntim\n" + std::string(sasl::max_auth_payload_bytes, 'p'),
       Problem::too_long},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto r = sasl::parse_auth_payload(c.payload);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.problem(), c.problem) << sasl::problem_text(r.problem());
  }
}

TEST(SaslAuthPayload, BuildRefusesWhatCannotBeCarried) {
  struct Case {
    const char* label;
    sasl::AuthRequest request;
    Problem problem;
  };
  std::vector<Case> cases;
  cases.push_back({"LF in password", {"imap", sasl::LoginFields{"tim", make_secret("p\nw")}},
                   Problem::bad_character});
  cases.push_back({"LF in user", {"imap", sasl::LoginFields{"tim\nx", make_secret("pw")}},
                   Problem::bad_character});
  cases.push_back({"empty service", {"", sasl::LoginFields{"tim", make_secret("pw")}},
                   Problem::bad_service});
  cases.push_back({"empty password", {"imap", sasl::LoginFields{"tim", make_secret("")}},
                   Problem::empty_password});
  cases.push_back({"cram response not base64",
                   {"imap", sasl::CramFields{CramHash::md5, rfc2195_challenge_b64, "x\ny"}},
                   Problem::bad_base64});
  cases.push_back({"cram empty response",
                   {"imap", sasl::CramFields{CramHash::md5, rfc2195_challenge_b64, ""}},
                   Problem::empty});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto r = sasl::build_auth_payload(c.request);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.problem(), c.problem);
  }
}

TEST(SaslProblems, EveryProblemHasText) {
  for (int i = 0; i <= static_cast<int>(Problem::bad_service); ++i) {
    auto text = sasl::problem_text(static_cast<Problem>(i));
    EXPECT_FALSE(text.empty());
    EXPECT_NE(text, "invalid message") << i;
  }
}

}  // namespace
