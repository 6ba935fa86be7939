// makehosteddomains and makeacceptmailfor (one program, two names): compile a domain
// list (a file or a folder) into a .dat file that esmtpd reads.
//   makehosteddomains   SYSCONFDIR/hosteddomains -> hosteddomains.dat
//       lines: "domain" (hosted) or "alias<TAB>domain" (alias of a hosted domain)
//   makeacceptmailfor   SYSCONFDIR/esmtpacceptmailfor.dir -> esmtpacceptmailfor.dat
//       lines: "domain" or ".domain" (any subdomain)
// Option -src=path and -file=path.dat override the defaults. See makehosteddomains(8).
#include <cstdio>
#include <cstring>
#include <string>

#include "esmtpd/command.hpp"
#include "lib/config.hpp"
#include "lib/dbfile.hpp"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc/courier"
#endif

int main(int argc, char** argv) {
  std::string name = argv[0];
  if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  bool hosted = name.find("hosted") != std::string::npos;
  std::string src = hosted ? SYSCONFDIR "/hosteddomains" : SYSCONFDIR "/esmtpacceptmailfor.dir";
  std::string dat = hosted ? SYSCONFDIR "/hosteddomains.dat" : SYSCONFDIR "/esmtpacceptmailfor.dat";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-src=", 0) == 0) src = a.substr(5);
    else if (a.rfind("-file=", 0) == 0) dat = a.substr(6);
    else {
      std::fprintf(stderr, "usage: %s [-src=%s] [-file=%s]\n", name.c_str(), src.c_str(), dat.c_str());
      return a == "--help" ? 0 : 64;
    }
  }
  auto entries = lib::read_list_source(src);
  if (!entries) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), entries.error().message.c_str());
    return 1;
  }
  auto b = lib::DbBuilder::create(dat, 0644);
  if (!b) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), b.error().message.c_str());
    return 1;
  }
  std::size_t n = 0;
  for (const auto& e : *entries) {
    std::string text = esmtpd::lower(e.text);
    std::string key = text, value = "1";
    auto tab = text.find_first_of(" \t");
    if (tab != std::string::npos) {
      if (!hosted) {
        std::fprintf(stderr, "%s: %s:%d: one domain per line, got '%s'\n", name.c_str(), e.file.c_str(), e.line, e.text.c_str());
        return 1;
      }
      key = text.substr(0, tab);
      value = text.substr(text.find_first_not_of(" \t", tab));
    }
    if (key.empty() || key.find_first_of("@/ ") != std::string::npos || (key[0] == '.' && hosted)) {
      std::fprintf(stderr, "%s: %s:%d: '%s' is not a domain\n", name.c_str(), e.file.c_str(), e.line, e.text.c_str());
      return 1;
    }
    if (auto r = b->put(key, value); !r) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), r.error().message.c_str());
      return 1;
    }
    ++n;
  }
  if (auto r = b->commit(); !r) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), r.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "%s: %zu domains written to %s\n", name.c_str(), n, dat.c_str());
  return 0;
}
