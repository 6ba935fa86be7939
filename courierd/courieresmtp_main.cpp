// courieresmtp: delivers one queued message to the mail servers of one domain, for
// courierd. Usage (by courierd only):
//   courieresmtp [-c sysconfdir] QID DOMAIN RCPT# [RCPT#...]
// Prints one line per recipient on stdout:
//   RCPT# TAB d|r|f|y TAB status TAB relay TAB text
// (delivered, relayed without DSN, failed, deferred); courierd records them.
// Runs as the mail user (courierd's scheduler); talks to remote servers, so every
// reply goes through the bounded parser in smtp_reply.hpp.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "courierd/queue_access.hpp"
#include "courierd/settings.hpp"
#include "courierd/smtp_client.hpp"
#include "courierd/text.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"

int main(int argc, char** argv) {
  std::string sysconfdir;
  int i = 1;
  if (i + 1 < argc && std::string(argv[i]) == "-c") {
    sysconfdir = argv[i + 1];
    i += 2;
  }
  if (argc - i < 3) {
    std::fprintf(stderr, "usage: courieresmtp [-c sysconfdir] QID DOMAIN RCPT# [RCPT#...] (run by courierd)\n");
    return 64;
  }
  std::string qid = argv[i], domain = argv[i + 1];
  std::vector<int> rcpts;
  for (int j = i + 2; j < argc; ++j) rcpts.push_back(std::atoi(argv[j]));
  ::signal(SIGPIPE, SIG_IGN);
  auto fail_all = [&](const std::string& why) {
    for (int r : rcpts) std::printf("%d\ty\t4.3.0\t-\t%s\n", r, courierd::field(why).c_str());
    return 75;
  };
  auto settings = courierd::load_settings(sysconfdir);
  if (!settings) return fail_all(settings.error().message);
  lib::log::Options lo;
  if (!settings->logfile.empty()) {
    lo.target = lib::log::Target::file;
    lo.file_path = settings->logfile;
  }
  lib::log::open("courieresmtp", lo);
  auto msg = courierd::load_message(settings->queuedir, qid);
  if (!msg) return fail_all(msg.error().message);
  for (int r : rcpts)
    if (r < 0 || static_cast<size_t>(r) >= msg->rcpts.size()) return fail_all("recipient number out of range");
  auto data = lib::read_small_file(courierd::data_path(settings->queuedir, qid), 1ULL << 34);
  if (!data) return fail_all(data.error().message);
  auto results = courierd::deliver_remote(*settings, *msg, *data, domain, rcpts);
  for (const auto& r : results)
    std::printf("%d\t%c\t%s\t%s\t%s\n", r.rcpt, r.outcome, courierd::field(r.status).c_str(), courierd::field(r.relay).c_str(),
                courierd::field(r.text).c_str());
  std::fflush(stdout);
  return 0;
}
