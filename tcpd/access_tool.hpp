// tcpd/access_tool.hpp: what makesmtpaccess, makesmtpaccess-msa and
// makeimapaccess (one program under three names, as Courier installs them)
// compile, and whom they tell:
//
//   makesmtpaccess      sources @sysconfdir@/esmtpd; ACCESSFILE (default
//                       @sysconfdir@/smtpaccess) -> ACCESSFILE.dat; HUP PIDFILE
//   makesmtpaccess-msa  esmtpd, then esmtpd-msa over it; the same variables
//   makeimapaccess      imapd, then imapd-ssl over it; IMAPACCESSFILE (default
//                       @sysconfdir@/imapaccess); HUP PIDFILE and SSLPIDFILE
//
// Options (extensions): -src=PATH and -file=PATH.dat override the config,
// -nohup skips signalling couriertcpd.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace tcpd {

struct AccessToolPlan {
  std::string source;                  // a file or a directory
  std::string dat;                     // the database to write
  std::vector<std::string> pid_files;  // couriertcpd -pid files to send SIGHUP
  std::vector<std::string> notes;      // config warnings to print
};

// program_name is argv[0] (its base name picks the flavour); args are the
// options after it. Config files that do not exist yet are skipped (the
// defaults apply); a config file that does not parse is an error.
lib::Result<AccessToolPlan> plan_access_tool(std::string_view program_name, const std::string& sysconfdir,
                                             std::span<const std::string> args);

}  // namespace tcpd
