// tls/mkdhparams_main.cpp: mkdhparams, makes the DH parameters file that
// couriertls reads (TLS_DHPARAMS). Courier's tool, same rules: DH_BITS sets
// the size (default 3072), an existing file younger than 25 days is kept
// unless -f is given, and the new file replaces the old one atomically.
//
//   mkdhparams [-f] [-random] [file]
//     file: default $TLS_DHPARAMS, else @sysconfdir@/dhparams.pem
//     -random: a freshly generated safe prime instead of the RFC 7919 group
//
// Exit: 0 made or kept (it says which), 1 error (it says what and how to fix).
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "tls/dhparams.hpp"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc/courier"
#endif

int main(int argc, char** argv) {
  bool force = false;
  tls::DhMethod method = tls::DhMethod::named_group;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-f" || arg == "--force") {
      force = true;
    } else if (arg == "-random" || arg == "--random") {
      method = tls::DhMethod::random_prime;
    } else if (arg == "-h" || arg == "--help") {
      std::printf("usage: mkdhparams [-f] [-random] [file]\n"
                  "  makes DH parameters (DH_BITS bits, default %d) in file (default $TLS_DHPARAMS or %s)\n"
                  "  when it is missing or older than %d days; -f: always; -random: generate a new prime\n",
                  tls::dh_bits_default, SYSCONFDIR "/dhparams.pem", tls::dh_regenerate_days);
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "mkdhparams: unknown option %s (usage: mkdhparams [-f] [-random] [file])\n", arg.c_str());
      return 1;
    } else if (path.empty()) {
      path = arg;
    } else {
      std::fprintf(stderr, "mkdhparams: one file only (usage: mkdhparams [-f] [-random] [file])\n");
      return 1;
    }
  }
  if (path.empty()) {
    const char* env = std::getenv("TLS_DHPARAMS");
    path = env && *env ? env : SYSCONFDIR "/dhparams.pem";
  }
  const char* bits_env = std::getenv("DH_BITS");
  auto bits = tls::parse_dh_bits(bits_env ? bits_env : "", method);
  if (!bits) {
    std::fprintf(stderr, "mkdhparams: %s\n", bits.error().message.c_str());
    return 1;
  }
  std::string why;
  if (!tls::dh_params_need_refresh(path, std::time(nullptr), force, &why)) {
    std::printf("mkdhparams: %s kept: %s days (use -f to make new parameters now)\n", path.c_str(), why.c_str());
    return 0;
  }
  if (method == tls::DhMethod::random_prime) {
    std::printf("mkdhparams: generating a %d-bit safe prime; this can take several minutes...\n", *bits);
    std::fflush(stdout);
  }
  auto pem = tls::generate_dh_params_pem(*bits, method);
  if (!pem) {
    std::fprintf(stderr, "mkdhparams: %s\n", pem.error().message.c_str());
    return 1;
  }
  // DH parameters are public; 644 lets couriertls read them after -user.
  auto written = tls::replace_file(path, *pem, 0644);
  if (!written) {
    std::fprintf(stderr, "mkdhparams: %s\n", written.error().message.c_str());
    return 1;
  }
  if (method == tls::DhMethod::named_group) {
    std::printf("mkdhparams: wrote %s: %d-bit DH parameters, RFC 7919 group %s (%s)\n", path.c_str(), *bits,
                tls::named_group_for_bits(*bits).c_str(), why.c_str());
  } else {
    std::printf("mkdhparams: wrote %s: %d-bit DH parameters, a new safe prime (%s)\n", path.c_str(), *bits,
                why.c_str());
  }
  return 0;
}
