// tcpd/makeaccess_main.cpp: makesmtpaccess, makesmtpaccess-msa and
// makeimapaccess (makesmtpaccess(8)): compile an access source into its
// .dat atomically, then tell the running couriertcpd (SIGHUP, as
// "couriertcpd -pid=... -restart" does).
//
// SECURITY: run by the admin; reads only the configuration and the access
// source, writes the .dat beside it.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "tcpd/access.hpp"
#include "tcpd/access_tool.hpp"
#include "tcpd/pidfile.hpp"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc/courier"
#endif

int main(int argc, char** argv) {
  std::string name = argc > 0 ? argv[0] : "makesmtpaccess";
  if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);

  auto plan = tcpd::plan_access_tool(name, SYSCONFDIR, args);
  if (!plan) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), plan.error().message.c_str());
    return 1;
  }
  for (const auto& n : plan->notes) std::fprintf(stderr, "%s: warning: %s\n", name.c_str(), n.c_str());

  std::vector<std::string> warnings;
  auto count = tcpd::compile_access_source(plan->source, plan->dat, &warnings);
  for (const auto& w : warnings) std::fprintf(stderr, "%s: warning: %s\n", name.c_str(), w.c_str());
  if (!count) {
    std::fprintf(stderr, "%s: %s\n%s: %s was not changed\n", name.c_str(), count.error().message.c_str(),
                 name.c_str(), plan->dat.c_str());
    return count.error().temporary() ? 75 : 1;
  }
  std::printf("%s: %s: %zu entries from %s\n", name.c_str(), plan->dat.c_str(), *count, plan->source.c_str());

  for (const auto& pid_file : plan->pid_files) {
    auto r = tcpd::signal_daemon(pid_file, SIGHUP);
    if (!r)
      std::fprintf(stderr, "%s: warning: %s\n", name.c_str(), r.error().message.c_str());
    else if (*r)
      std::printf("%s: told couriertcpd (pid %d, %s) to reopen it\n", name.c_str(), static_cast<int>(**r),
                  pid_file.c_str());
  }
  return 0;
}
