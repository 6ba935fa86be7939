// tcpd/options.hpp: couriertcpd's command line, as couriertcpd(1) documents it:
//
//   couriertcpd [-pid=file] [option...] port[,port...] program [arg...]
//   couriertcpd -pid=file -stop | -restart
//
// Options are "-name" or "-name=value" and end at the first argument that
// does not start with "-" (the port list). Extensions of this suite (for
// tests and slow networks): -nameserver=IP[:PORT] (repeatable),
// -resolvconf=FILE, -dnstimeout=SECONDS, -identtimeout=SECONDS,
// -identport=N, -stopgrace=SECONDS; and -haproxy[=SECONDS] of newer Courier
// releases, without a port list (it applies to every port).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace tcpd {

// One entry of the port list: "port" or "ip.port" (the address may be IPv4
// or IPv6 text; the port is the part after the last dot). address is empty
// for a wildcard (then -address applies, or both IPv6 and IPv4 wildcards).
struct ListenSpec {
  std::string address;
  uint16_t port = 0;
  friend bool operator==(const ListenSpec&, const ListenSpec&) = default;
};

// -block=zone[=display_zone][,VAR[/a.b.c.d][,msg]] and
// -allow=zone[=display_zone][,VAR[/a.b.c.d][,msg]].
struct BlocklistSpec {
  bool allow = false;
  std::string zone;
  std::string display_zone;  // defaults to zone
  std::string variable = "BLOCK";
  std::optional<std::array<uint8_t, 4>> want_address;  // only this A record counts
  std::optional<std::string> message;                    // -block: text or "*"; -allow: ask for TXT

  // -block with message "*" and -allow with any message query TXT records;
  // the others query A records (as Courier's couriertcpd does).
  bool wants_txt() const { return allow ? message.has_value() : (message && *message == "*"); }
};

// Parses the value of -block= / -allow=. Errors name the option and the part
// that is wrong (empty zone, bad variable name, bad IPv4 address, "*" with
// an explicit address, a zone longer than a DNS name may be).
lib::Result<BlocklistSpec> parse_blocklist_spec(std::string_view value, bool allow);

enum class Command { run, stop, restart };
enum class StderrMode { inherit, socket, file, logger };

struct Options {
  Command command = Command::run;
  std::string pid_file;

  std::vector<ListenSpec> listen;
  std::string default_address;  // -address
  std::string program;          // argv[0] of the program to run
  std::vector<std::string> program_args;  // including program's own argv[0]

  std::string access_file;  // -access
  bool access_local = false;
  std::string deny_message;  // -denymsg (empty: none)
  bool has_deny_message = false;
  std::vector<std::string> drop_variables;  // -drop[=VAR,...]; empty: no -drop
  std::vector<BlocklistSpec> blocklists;

  int max_procs = 40;
  int max_per_ip = 4;
  int max_per_c = 0;  // 0: same as max_procs (Courier's default)
  int warn_procs = -1;  // -1: max_procs - (max_procs / 10 + 1)
  int listen_backlog = 0;  // 0: SOMAXCONN

  bool dns_lookup = true;
  bool ident_lookup = true;
  std::vector<std::string> nameservers;  // -nameserver=IP[:PORT]
  std::string resolv_conf;               // -resolvconf; default /etc/resolv.conf
  std::chrono::milliseconds dns_timeout{10000};
  std::chrono::milliseconds ident_timeout{10000};
  uint16_t ident_port = 113;
  std::chrono::milliseconds stop_grace{10000};

  std::string user;
  std::string group;

  StderrMode stderr_mode = StderrMode::inherit;
  std::string stderr_file;    // -stderr=FILE
  std::string stderr_logger;  // -stderrlogger=PROG
  std::string stderr_logger_name;

  // -haproxy[=seconds]: every connection starts with a PROXY v1 header
  // (default wait 15 s); nullopt without the option.
  std::optional<std::chrono::milliseconds> haproxy_timeout;

  int effective_max_per_c() const { return max_per_c > 0 ? max_per_c : max_procs; }
  int effective_warn() const { return warn_procs >= 0 ? warn_procs : max_procs - (max_procs / 10 + 1); }
};

// Parses the port list "25,127.0.0.1.465,::1.587,smtp": each entry is a
// port (number or service name) or ADDRESS.PORT, split at the last dot. An
// address of "0" means the wildcard, as in Courier's ADDRESS=0.
lib::Result<std::vector<ListenSpec>> parse_port_list(std::string_view list);

// Parses the whole command line (args[0] is couriertcpd itself). Errors say
// which option or argument is wrong and what is expected.
lib::Result<Options> parse_options(std::span<const std::string> args);

// The usage text printed with an argument error.
std::string usage_text(std::string_view program_name);

}  // namespace tcpd
