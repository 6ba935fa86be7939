// tcpd/tls_inprocess.hpp: couriertcpd serving "couriertls -server -tcpd ..."
// without running couriertls for every connection.
//
// A start script runs
//   couriertcpd ... couriertls -server -tcpd [-user=name] imaplogin imapd Maildir
// Run literally, every connection execs couriertls, which loads OpenSSL, its
// settings, the certificate, the key and the DH parameters before the
// handshake: two thirds of the instructions of a TLS connection (bench/tcpd/
// README.md). When couriertcpd sees that command line, it builds the TLS
// context once, at start-up (as root, before -user, as couriertls reads its
// files before dropping), and each connection's forked process runs
// couriertls's own code (tls::serve_connection) with that context: it forks
// the program, drops to -user or the mail user, does the handshake and relays,
// exactly as couriertls would. The process is named couriertls in the log
// and in ps (PR_SET_NAME); /proc/PID/exe shows couriertcpd.
//
// Same behaviour as couriertls, file by file:
//   - every TLS_* setting is read from couriertcpd's environment; a connection
//     whose access-file entry sets a different TLS_* variable, or for whose
//     local address a $TLS_CERTFILE.<TCPLOCALIP> file exists, execs couriertls
//     as before;
//   - the certificate, key, DH parameter and TLS_TRUSTCERTS files and the
//     certificate's folder (SNI files) are checked for changes at most once a
//     second; a change rebuilds the context (a renewed certificate is served
//     from the next connection on); a rebuild that fails is logged once and
//     connections exec couriertls, which says what is wrong, until the files
//     change again; the context is also built again every hour, so that a
//     certificate past its end date is refused as couriertls refuses it;
//   - TLS_CACHEFILE's ticket keys are read for each connection, so rotation and
//     resumption across processes work as with couriertls;
//   - each context, once built, runs a handshake with itself in memory
//     (tls::Context::warm_up), so OpenSSL's first-use work is done once in
//     couriertcpd and not again in every connection's process (a copy of the
//     private key signs there, so each process still makes its own RSA
//     blinding value);
//   - whom the processes drop to (-user, or the mail user) is looked up once,
//     and again when /etc/passwd or /etc/group changes; a connection whose
//     access-file entry sets another MAILUSER looks its own up.
// TCPD_TLS_INPROCESS=0 in the environment turns this off (every connection
// execs couriertls).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tcpd/blocklist.hpp"  // EnvVars

namespace tcpd {

class InProcessTls {
 public:
  // nullptr when program_args is not a couriertls server command line of the
  // form above, or TCPD_TLS_INPROCESS=0, or a TLS_* setting is wrong. When a
  // setting or a file is wrong, *problem gets couriertls's message for the
  // caller to log; connections then exec couriertls (which says it again for
  // each) until the files change and the context builds.
  static std::unique_ptr<InProcessTls> prepare(const std::string& program_path,
                                               const std::vector<std::string>& program_args, const EnvVars& env,
                                               std::string* problem);
  ~InProcessTls();

  // Forks the connection's process (socket fd on 0 and 1, and on 2 when
  // stderr_to_socket) and returns its pid, or -1 with errno set.
  pid_t spawn(int fd, const EnvVars& vars, bool stderr_to_socket);

  struct State;

 private:
  explicit InProcessTls(std::unique_ptr<State> state);
  void check_files();
  std::unique_ptr<State> state_;
};

}  // namespace tcpd
