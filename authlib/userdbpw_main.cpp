// authlib/userdbpw_main.cpp: userdbpw, hashes a password for the userdb
// (Courier's userdbpw(8)), usually piped into the userdb command:
//   userdbpw [-md5] | userdb addr set systempw
//   userdbpw -hmac-md5 | userdb addr set hmac-md5pw
// Options: none = yescrypt (Courier: traditional crypt or bcrypt); -md5 =
// MD5-crypt "$1$" (Courier's -md5, for sites whose other readers need it);
// -hmac-md5, -hmac-sha1, -hmac-sha256 = Courier's precomputed CRAM secret
// (authlib/sasl.hpp make_cram_precomputed: the HMAC inner and outer chaining
// states, in hex); and -<scheme> for any scheme authlib/password.hpp makes
// (-sha512-crypt, -bcrypt, -ssha...).
//
// Reads the password from standard input: on a terminal it prompts on
// standard error with echo off and asks twice; otherwise it reads one line.
// Prints the result and a newline on standard output. Runs as anyone.
// Exit status 0, or 1 with a message.
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "authlib/password.hpp"
#include "authlib/sasl.hpp"
#include "authlib/userdb_source.hpp"

namespace {

int usage() {
  std::fputs("usage: userdbpw [-md5 | -hmac-md5 | -hmac-sha1 | -hmac-sha256 | -<scheme>]\n"
             "  schemes: yescrypt (default), sha512-crypt, sha256-crypt, bcrypt, md5-crypt, des-crypt,\n"
             "           md5, md5raw, sha1, ssha, sha256, sha512, ssha256, ssha512\n",
             stderr);
  return 1;
}

struct Choice {
  std::optional<authlib::sasl::CramHash> cram;
  authlib::Scheme scheme = authlib::Scheme::yescrypt;
};

std::optional<Choice> parse_option(std::string_view arg) {
  using authlib::sasl::CramHash;
  Choice c;
  if (arg == "-md5") {
    c.scheme = authlib::Scheme::md5_crypt;  // Courier's userdb_mkmd5pw: "$1$"
    return c;
  }
  for (CramHash h : {CramHash::md5, CramHash::sha1, CramHash::sha256}) {
    if (arg == "-hmac-" + std::string(authlib::sasl::cram_hash_name(h))) {
      c.cram = h;
      return c;
    }
  }
  if (arg.size() < 2 || arg.front() != '-') return std::nullopt;
  auto scheme = authlib::scheme_from_name(arg.substr(1));
  if (!scheme || *scheme == authlib::Scheme::other_crypt) return std::nullopt;
  c.scheme = *scheme;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  Choice choice;
  if (argc > 2) return usage();
  if (argc == 2) {
    auto c = parse_option(argv[1]);
    if (!c) {
      std::fprintf(stderr, "userdbpw: invalid argument %s\n", argv[1]);
      return usage();
    }
    choice = *c;
  }
  auto password = authlib::userdb::read_secret_line("Password: ", true);
  if (!password) {
    std::fprintf(stderr, "userdbpw: %s\n", password.error().message.c_str());
    return 1;
  }
  auto result = choice.cram ? authlib::sasl::make_cram_precomputed(*choice.cram, *password)
                            : authlib::make_password_hash(*password, choice.scheme);
  if (!result) {
    std::fprintf(stderr, "userdbpw: %s\n", result.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", result->c_str());
  return std::fflush(stdout) == 0 ? 0 : 1;
}
