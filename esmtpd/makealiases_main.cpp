// makealiases: compiles SYSCONFDIR/aliases (a file or a folder) into aliases.dat.
//   makealiases [-src=path] [-alias=path.dat] [-chk] [-dump]
// See makealiases(8).
#include <cstdio>
#include <cstring>
#include <string>

#include "esmtpd/aliases.hpp"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc/courier"
#endif

int main(int argc, char** argv) {
  std::string src = SYSCONFDIR "/aliases", dat = SYSCONFDIR "/aliases.dat";
  bool chk = false, dump = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-src=", 0) == 0) src = a.substr(5);
    else if (a.rfind("-alias=", 0) == 0) dat = a.substr(7);
    else if (a == "-chk") chk = true;
    else if (a == "-dump") dump = true;
    else if (a.rfind("-tmp=", 0) == 0 || a.rfind("-protocol=", 0) == 0) {
      std::fprintf(stderr, "makealiases: %s is accepted and ignored by this suite\n", a.c_str());
    } else {
      std::fprintf(stderr,
                   "usage: makealiases [-src=%s] [-alias=%s] [-chk] [-dump]\n"
                   "  -chk   check the source only; -dump  print the expanded aliases\n",
                   SYSCONFDIR "/aliases", SYSCONFDIR "/aliases.dat");
      return a == "--help" ? 0 : 64;
    }
  }
  auto compiled = esmtpd::aliases::compile_source(src);
  if (!compiled) {
    std::fprintf(stderr, "makealiases: %s\n", compiled.error().message.c_str());
    return 1;
  }
  if (dump) std::fputs(esmtpd::aliases::dump(*compiled).c_str(), stdout);
  if (chk) {
    std::fprintf(stderr, "makealiases: %s: %zu aliases, no errors\n", src.c_str(), compiled->entries.size());
    return 0;
  }
  if (dump) return 0;
  if (auto r = esmtpd::aliases::write_dat(*compiled, dat); !r) {
    std::fprintf(stderr, "makealiases: %s\n", r.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "makealiases: %s: %zu aliases written to %s\n", src.c_str(), compiled->entries.size(), dat.c_str());
  return 0;
}
