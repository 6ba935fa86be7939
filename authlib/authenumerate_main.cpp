// authlib/authenumerate_main.cpp: authenumerate [-S socket] [-s]
//
// Lists the accounts authdaemond's modules can enumerate, one per line:
// name<TAB>uid<TAB>gid<TAB>home<TAB>maildir<TAB>options. With -s, in the
// shared-folder index format name<TAB>uid<TAB>gid<TAB>home<TAB>maildir.
#include <cstdio>
#include <string>

#include "authlib/account_options.hpp"
#include "authlib/client.hpp"

int main(int argc, char** argv) {
  authlib::ClientOptions options;
  bool shared_index = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-S" && i + 1 < argc) {
      options.socket_path = argv[++i];
    } else if (a == "-s") {
      shared_index = true;
    } else if (a == "-o") {
      shared_index = false;
    } else {
      std::fprintf(stderr, "usage: authenumerate [-S socket] [-s | -o]\n");
      return 64;
    }
  }
  auto r = authlib::enumerate_accounts(options, [&](const authlib::Account& a) {
    // -s: accounts with the option disableshared are left out of the shared
    // index, as Courier's authenumerate does.
    if (shared_index && authlib::account_option_set(a.options, "disableshared")) return;
    std::string uid = a.uid ? std::to_string(*a.uid) : a.username;
    std::printf("%s\t%s\t%u\t%s\t%s", a.address.c_str(), uid.c_str(), static_cast<unsigned>(a.gid), a.home.c_str(),
                a.maildir.c_str());
    if (!shared_index) std::printf("\t%s", a.options.c_str());
    std::printf("\n");
  });
  if (r.status != authlib::AuthStatus::ok) {
    std::fprintf(stderr, "authenumerate: %s\n", r.error.c_str());
    return r.status == authlib::AuthStatus::temporary ? 75 : 1;
  }
  return 0;
}
