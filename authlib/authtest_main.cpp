// authlib/authtest_main.cpp: authtest [-S socket] [-s service] [-m module] user [password [newpassword]]
//
// Asks authdaemond what it knows about an account: with a user only, looks it
// up (PRE); with a password, authenticates; with a new password, changes it.
// Prints what the modules returned, or why it failed. Exit 0 on success, 1
// when rejected, 75 on a temporary failure (authdaemond or its backend down).
#include <cstdio>
#include <cstring>
#include <string>

#include "authlib/client.hpp"

namespace {

constexpr int ex_tempfail = 75;

int usage() {
  std::fprintf(stderr,
               "usage: authtest [-S socket] [-s service] [-m module] user [password [newpassword]]\n"
               "  -S socket   authdaemond's socket (default: %s)\n"
               "  -s service  the service to ask for (default: login)\n"
               "  -m module   only this module, for a lookup (default: all, in authmodulelist order)\n",
               authlib::default_socket_path().c_str());
  return 64;
}

const char* or_none(const std::string& s) { return s.empty() ? "(none)" : s.c_str(); }

void print_account(const authlib::Account& a, const std::string& login) {
  if (a.uid)
    std::printf("     Authenticated: %s  (uid %u, gid %u)\n", login.c_str(), static_cast<unsigned>(*a.uid),
                static_cast<unsigned>(a.gid));
  else
    std::printf("     Authenticated: %s  (system username: %s)\n", login.c_str(), a.username.c_str());
  std::printf("    Home Directory: %s\n", a.home.c_str());
  std::printf("           Maildir: %s\n", a.maildir.empty() ? "(none: $HOME/Maildir)" : a.maildir.c_str());
  std::printf("             Quota: %s\n", or_none(a.quota));
  std::printf("           Address: %s\n", or_none(a.address));
  std::printf("         Full name: %s\n", or_none(a.fullname));
  std::printf("           Options: %s\n", or_none(a.options));
}

int report(const authlib::AuthResult& r, const char* success_text, const std::string& login) {
  switch (r.status) {
    case authlib::AuthStatus::ok:
      std::printf("%s\n\n", success_text);
      if (!r.account.home.empty()) print_account(r.account, login);
      return 0;
    case authlib::AuthStatus::rejected:
      std::fprintf(stderr, "authtest: rejected: %s\n", r.error.c_str());
      return 1;
    case authlib::AuthStatus::temporary:
      std::fprintf(stderr, "authtest: temporary failure: %s\n", r.error.c_str());
      return ex_tempfail;
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  authlib::ClientOptions options;
  std::string service = "login", module = ".";
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1]; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (a.size() > 2) {
        out = a.substr(2);
        return true;
      }
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    bool ok = a.starts_with("-S") ? value(options.socket_path)
            : a.starts_with("-s") ? value(service)
            : a.starts_with("-m") ? value(module)
                                  : false;
    if (!ok) return usage();
  }
  int left = argc - i;
  if (left < 1 || left > 3) return usage();
  std::string user = argv[i];
  if (left == 1) return report(authlib::lookup_account(options, service, user), "Lookup succeeded.", user);
  lib::Secret password(std::string_view(argv[i + 1]));
  // Hide the password from ps as soon as it is copied.
  std::memset(argv[i + 1], 'x', std::strlen(argv[i + 1]));
  if (left == 2)
    return report(authlib::authenticate_login(options, service, user, password), "Authentication succeeded.", user);
  lib::Secret new_password(std::string_view(argv[i + 2]));
  std::memset(argv[i + 2], 'x', std::strlen(argv[i + 2]));
  return report(authlib::change_password(options, service, user, password, new_password), "Password changed.", user);
}
