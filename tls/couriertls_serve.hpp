// tls/couriertls_serve.hpp: what couriertls does once its TLS context is
// ready: fork the program (if any) while still privileged, drop to -user or
// the mail user, run the handshake, hand the program its TLS_* variables,
// relay until both sides are done (couriertls_main.cpp describes the process
// layout). couriertls calls it after loading its files; couriertcpd calls it
// in a connection's forked process with a context it made once at start
// (tcpd/tls_inprocess.hpp), so both paths run this one piece of code.
#pragma once

#include <string>
#include <string_view>

#include "lib/privileges.hpp"
#include "lib/unique_fd.hpp"
#include "tls/context.hpp"
#include "tls/couriertls_options.hpp"
#include "tls/settings.hpp"

namespace tls {

// Writes all of data to a blocking descriptor (status, env and printx509
// pipes, the debug client's socket); gives up silently on an error.
void write_all(int fd, std::string_view data);

// "ip=[1.2.3.4] " (Courier's ssl_errmsg prefix) for settings.remote_ip, or "".
std::string log_prefix(const Settings& settings);

// Logs message (an error when admin_error, else a warning) with prefix and
// writes it as the single line of -statusfd. Returns 1, couriertls's exit code.
int report_failure(const CouriertlsOptions& o, const std::string& prefix, const std::string& message,
                   bool admin_error);

// Serves one connection on remote_fd (owned_remote: the same descriptor when
// couriertls opened it itself) and returns couriertls's exit code: the
// program's, or 1 when the handshake failed. Call it as the user that may
// start the program (root for imaplogin): it drops privileges itself.
// run_as: whom it drops to, when the caller has resolved -user (or, for root
// without -user, the mail user) already, as couriertcpd does once for all its
// connections; null: resolved here (reading the password file).
int serve_connection(const CouriertlsOptions& o, const Settings& settings, const Context& context,
                     int remote_fd, lib::UniqueFd owned_remote, const lib::Identity* run_as = nullptr);

}  // namespace tls
