// authlib/authpasswd_main.cpp: authpasswd [method], prints a password hash
// for any password field authlib reads (Courier's authpasswd(8)).
//   method (case-insensitive; "{MD5}" and "md5" alike): md5 ({MD5}),
//   md5raw ({MD5RAW}), sha or sha1 ({SHA}), ssha ({SSHA}), sha256 ({SHA256}),
//   sha512 ({SHA512}), crypt (libxcrypt's default crypt(3) scheme, yescrypt),
//   and the names of authlib/password.hpp: yescrypt, sha512-crypt,
//   sha256-crypt, bcrypt, md5-crypt, des-crypt, ssha256, ssha512.
// Without a method: yescrypt. Courier's default was MD5-crypt, which is
// too fast to resist guessing today; `authpasswd md5-crypt` still makes it.
// Unlike Courier, an unknown method is an error (Courier silently used {SSHA}).
//
// Reads the password from standard input: on a terminal it prompts on
// standard error with echo off and asks twice; otherwise it reads one line.
// Runs as anyone. Exit status 0, or 1 with a message.
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "authlib/password.hpp"
#include "authlib/userdb_source.hpp"

namespace {

int usage() {
  std::fputs("usage: authpasswd [method]\n"
             "  methods: yescrypt (default), crypt, sha512-crypt, sha256-crypt, bcrypt, md5-crypt, des-crypt,\n"
             "           md5, md5raw, sha1 (sha), ssha, sha256, sha512, ssha256, ssha512\n",
             stderr);
  return 1;
}

std::optional<authlib::Scheme> method(std::string_view name) {
  if (name.size() >= 2 && name.front() == '{' && name.back() == '}') name = name.substr(1, name.size() - 2);
  std::string lower(name);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (lower == "sha") return authlib::Scheme::sha1;
  if (lower == "crypt") return authlib::Scheme::yescrypt;
  auto s = authlib::scheme_from_name(lower);
  if (!s || *s == authlib::Scheme::other_crypt) return std::nullopt;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  authlib::Scheme scheme = authlib::Scheme::yescrypt;
  if (argc > 2) return usage();
  if (argc == 2) {
    auto m = method(argv[1]);
    if (!m) {
      std::fprintf(stderr, "authpasswd: unknown method %s\n", argv[1]);
      return usage();
    }
    scheme = *m;
  }
  auto password = authlib::userdb::read_secret_line("Password: ", true);
  if (!password) {
    std::fprintf(stderr, "authpasswd: %s\n", password.error().message.c_str());
    return 1;
  }
  auto hash = authlib::make_password_hash(*password, scheme);
  if (!hash) {
    std::fprintf(stderr, "authpasswd: %s\n", hash.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", hash->c_str());
  return std::fflush(stdout) == 0 ? 0 : 1;
}
