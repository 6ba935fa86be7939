// tls/couriertls_options.hpp: couriertls's command line (couriertls(1);
// COURIER-COMPAT.md section 6), parsed without side effects:
//
//   couriertls [-server] [-tcpd | -remotefd=n | -host=h -port=p [-protocol=smtp|imap|pop3]]
//              [-localfd=n] [-statusfd=n] [-printx509=n] [-envfd=n] [-verify=domain]
//              [-user=name] [program args...]
//   couriertls -server -check
//
// -check (ours) loads the TLS_* settings, the certificate and the DH
// parameters as a connection would, prints what is wrong and exits 1, or
// exits 0: the start scripts run it so that a bad file stops the start.
//
// Options start with "-" (or "--") and end at the first argument that does
// not, which is the program. -envfd is ours: couriertls writes there the
// TLS_* variables a program would get (NAME=value lines), for tls::start_tls().
#pragma once

#include <span>
#include <string>
#include <vector>

#include "lib/result.hpp"

namespace tls {

enum class StartProtocol { none, smtp, imap, pop3 };

struct CouriertlsOptions {
  bool server = false;
  bool check = false;     // -check: only load the settings and files, no connection
  bool tcpd = false;      // the socket is on fds 0 and 1; fd 1 then becomes a copy of fd 2
  int remote_fd = -1;
  int local_fd = -1;
  int status_fd = -1;
  int printx509_fd = -1;
  int env_fd = -1;
  std::string verify_domain;
  std::string user;
  std::string host;
  std::string port;
  StartProtocol protocol = StartProtocol::none;
  std::vector<std::string> program;  // program and its arguments; empty: none
};

// Parses args (without argv[0]). Errors name the option and say what is
// expected: an unknown option, a descriptor that is not a number, -host
// without -port, two ways of naming the connection, -protocol other than
// smtp/imap/pop3, no connection at all, both -localfd and a program.
lib::Result<CouriertlsOptions> parse_couriertls_args(std::span<const std::string> args);

}  // namespace tls
