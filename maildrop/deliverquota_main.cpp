// maildrop/deliverquota_main.cpp: deliverquota(8), a Maildir delivery that
// honours the Maildir++ quota.
//
//   deliverquota [-c] [-w PERCENT] [-W FILE] MAILDIR [QUOTA] < message
//
// SECURITY: runs as whoever calls it (the account); reads the message from
// stdin and writes only into MAILDIR. Exit codes: 0 delivered, 75 over quota
// or a temporary failure, 64 usage, 73 the maildir could not be created.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"
#include "maildrop/delivery.hpp"
#include "maildrop/message.hpp"

using namespace maildrop;

int main(int argc, char** argv) {
  lib::log::Options lo;
  lib::log::open("deliverquota", lo);
  bool create = false;
  DeliveryContext ctx;
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1]; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::puts("usage: deliverquota [-c] [-w PERCENT] [-W FILE] MAILDIR [QUOTA] < message\n"
                "Delivers the message into MAILDIR unless that would exceed its Maildir++ quota\n"
                "(exit 75, the mail waits). -c creates MAILDIR if missing; QUOTA (e.g. 5000000S,1000C)\n"
                "sets the quota; -w warns once a day, into the maildir, above PERCENT full. See deliverquota(8).");
      return 0;
    }
    if (a == "-c") {
      create = true;
    } else if ((a == "-w" || a == "-W") && i + 1 < argc) {
      if (a == "-w") ctx.warn_percent = std::atoi(argv[++i]);
      else ctx.warn_message_file = argv[++i];
    } else {
      lib::log::error("unknown option %s (see deliverquota --help)", a.c_str());
      return ex_usage;
    }
  }
  if (i >= argc || argc - i > 2) {
    lib::log::error("usage: deliverquota [-c] [-w PERCENT] [-W FILE] MAILDIR [QUOTA] < message");
    return ex_usage;
  }
  std::string dir = argv[i];
  if (i + 1 < argc) {
    auto spec = lib::maildir::parse_quota_spec(argv[i + 1]);
    if (!spec) {
      lib::log::error("quota %s: %s", argv[i + 1], spec.error().message.c_str());
      return ex_usage;
    }
    ctx.quota = *spec;
  }
  if (create) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) {
      if (auto r = lib::maildir::create_maildir(dir); !r) {
        lib::log::error("%s", r.error().message.c_str());
        return ex_cantcreat;
      }
    }
  }
  std::string tmp = dir + "/tmp";
  auto m = Message::spool(0, "", {}, {tmp, "/tmp"}, false);
  if (!m) {
    lib::log::error("%s", m.error().message.c_str());
    return ex_tempfail;
  }
  auto r = deliver_maildir(*m, dir, ctx);
  if (!r) {
    lib::log::error("%s", r.error().message.c_str());
    return r.error().temporary() ? ex_tempfail : ex_unavailable;
  }
  return 0;
}
