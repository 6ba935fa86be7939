// authlib/password.hpp: checking a password against a stored hash, and making
// new hashes, as Courier's checkpassword.c and authpasswd/userdbpw do.
// Formats (COURIER-COMPAT.md section 7):
//   crypt(3) via libxcrypt, bare or after "{CRYPT}": yescrypt "$y$",
//     SHA-512 "$6$", SHA-256 "$5$", bcrypt "$2b$"/"$2y$"/"$2a$", MD5 "$1$",
//     traditional DES, and whatever else libxcrypt accepts ("$7$", "$gy$"...);
//   "{MD5}" base64 and "{MD5RAW}" hex MD5; "{SHA}", "{SHA256}", "{SHA512}"
//     base64 digests; "{SSHA}" base64(SHA-1(password + salt) + salt), as in
//     RFC 2307 directories; "{SSHA256}", "{SSHA512}" likewise (OpenLDAP and
//     Dovecot write them; Courier does not read them).
// Prefixes are case-insensitive, as in Courier. Clear-text password fields
// (userdb systempw in clear, LDAP clearPassword, PASSWD2) use verify_clear.
// Thread- and fork-safe: crypt_rn works in a crypt_data of its own per call.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lib/result.hpp"
#include "lib/secret.hpp"

namespace authlib {

enum class Scheme {
  unknown,       // not a format this library can verify
  yescrypt,      // $y$
  sha512_crypt,  // $6$
  sha256_crypt,  // $5$
  bcrypt,        // $2b$ $2y$ $2a$ $2x$
  md5_crypt,     // $1$
  des_crypt,     // 13 characters of [./0-9A-Za-z]
  other_crypt,   // anything else libxcrypt accepts as a setting ($7$, $gy$, _, $md5$...)
  md5,           // {MD5}   base64
  md5_raw,       // {MD5RAW} hex
  sha1,          // {SHA}
  ssha1,         // {SSHA}
  sha256,        // {SHA256}
  sha512,        // {SHA512}
  ssha256,       // {SSHA256}
  ssha512,       // {SSHA512}
};

// Longest stored hash looked at; anything longer is rejected unparsed.
inline constexpr size_t max_stored_hash_bytes = 4096;

// The scheme of a stored hash, from its form alone (a "{CRYPT}" prefix is
// looked through). Says nothing about whether the hash is well formed:
// describe_hash_problem does that.
Scheme detect_scheme(std::string_view stored);

// The scheme's name for tools and configuration: "yescrypt", "sha512-crypt",
// "sha256-crypt", "bcrypt", "md5-crypt" ($1$), "des-crypt", "other-crypt",
// "md5" ({MD5}), "md5raw", "sha1", "ssha", "sha256", "sha512", "ssha256", "ssha512",
// "unknown".
std::string_view scheme_name(Scheme scheme) noexcept;
// The scheme named, case-insensitively, by one of the names above; nullopt
// for anything else (including "unknown").
std::optional<Scheme> scheme_from_name(std::string_view name) noexcept;

// What checking a password against a stored hash found, with one hash
// computation: match, mismatch (a usable hash, another password), or
// unusable (the stored hash can never match: call describe_hash_problem for
// the admin, only then, since describing may hash again).
enum class Verdict { match, mismatch, unusable };
Verdict check_password(const lib::Secret& password, std::string_view stored);

// True if password matches stored. The comparison takes constant time; a
// stored hash that is empty, malformed, of an unknown scheme or that OpenSSL
// or libxcrypt refuses simply does not match. Never logs: call
// describe_hash_problem to tell the admin why a hash can never match.
bool verify_password(const lib::Secret& password, std::string_view stored);

// True if password equals the clear-text clear, compared in constant time
// (neither the content nor the length leaks through timing). False if clear
// is empty.
bool verify_clear(const lib::Secret& password, std::string_view clear);

// What is wrong with a stored hash, for the admin: "" if nothing is, else a
// sentence such as "unknown prefix {FOO}: known are {CRYPT} {MD5} ..." or
// "crypt returned *0: the hash is malformed or the scheme is not supported
// by libxcrypt". It never quotes the hash itself, which is secret.
std::string describe_hash_problem(std::string_view stored);

// A new hash of password, with a fresh salt from OpenSSL's RAND_bytes.
// yescrypt (libxcrypt's default cost) unless the site needs something its
// other readers understand; the result is bare (no "{CRYPT}": LDAP callers
// add it). Errors: temporary if the random generator fails; permanent for
// an empty password, a NUL in it or one over 512 bytes (crypt schemes),
// Scheme::unknown or other_crypt, or a scheme libxcrypt/OpenSSL refuse.
lib::Result<std::string> make_password_hash(const lib::Secret& password,
                                            Scheme scheme = Scheme::yescrypt);

}  // namespace authlib
