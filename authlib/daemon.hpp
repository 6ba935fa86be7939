// authlib/daemon.hpp: authdaemond, the prefork authentication daemon.
//
// A master process owns the Unix socket <authdaemonvar>/socket and keeps
// `daemons` worker processes alive; each worker accepts one connection at a
// time, reads one request, asks its own instances of the modules and answers.
// The master's loop (libevent) replaces dead workers, reloads on SIGHUP (new
// workers with the new configuration) and stops on SIGTERM.
//
// SECURITY: runs as root, because authshadow and authpam need it. Requests
// come from the mail services through the socket, whose directory is open to
// the daemon's own account and the mail group only. Requests are bounded in
// size and must arrive whole within 2 s; answering is bounded by AUTH_TIMEOUT
// (a worker that overruns it is killed and its client sees a temporary
// failure). Each peer is known by SO_PEERCRED: one uid other than root holds
// at most half the workers (authlib/worker_slots.hpp); only root, the mail
// user and authdaemond's own user may ENUMERATE or set TCPREMOTEIP.
// Passwords are never logged.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "lib/config.hpp"
#include "lib/result.hpp"

namespace authlib {

struct DaemonConfig {
  std::string rc_path;                  // the authdaemonrc read
  lib::Config rc;                       // all of it, for the modules
  std::vector<std::string> modules;     // authmodulelist
  int workers = 5;                      // daemons
  std::string var_dir;                  // authdaemonvar
  std::string group;                    // authdaemongroup: may use the socket (when run as root)
  std::chrono::seconds request_timeout{30};  // AUTH_TIMEOUT
  std::string log_file;                 // LOGFILE; empty: syslog
  std::string sysconfdir;               // where authldaprc, userdb.dat... live

  std::string socket_path() const { return var_dir + "/socket"; }
  std::string pid_path() const { return var_dir + "/pid"; }
};

// Reads authdaemonrc and checks it: unknown settings are warned about (in
// config.rc.warnings()), a bad value is an error naming file:line and the fix,
// and every module of authmodulelist is constructed once to prove it loads.
lib::Result<DaemonConfig> load_daemon_config(const std::string& rc_path);

// Runs the daemon in this process until SIGTERM. When ready_fd >= 0, writes
// "ok\n" there once the socket listens (or the error text, and returns it).
lib::Result<void> run_daemon(const DaemonConfig& config, int ready_fd);

// The pid of the running daemon (from the pid file, when its lock is held), or 0.
pid_t running_daemon_pid(const DaemonConfig& config);

}  // namespace authlib
