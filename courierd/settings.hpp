// courierd/settings.hpp: what courierd, courieresmtp and cancelmsg read from
// sysconfdir: the shell-style file `courierd` (DEFAULTDELIVERY, MAILDROP, MAXDELS...)
// and Courier's one-value control files (me, queuetime, retryalpha, esmtptimeout...),
// list files (locals, hosteddomains), esmtproutes and esmtpauthclient.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "courierd/retry.hpp"
#include "courierd/routes.hpp"
#include "lib/result.hpp"

namespace courierd {

struct Settings {
  std::string sysconfdir;
  std::string queuedir;
  std::string config_file;  // sysconfdir/courierd

  // Identity and local domains.
  std::string me;
  std::vector<std::string> locals;         // lower case; ".dom" wildcards, "!host" exclusions
  std::vector<std::string> hosteddomains;  // lower case
  std::string defaultsep = "+";            // characters equivalent to '-' in local parts

  // Delivery.
  std::string default_delivery = "./Maildir";  // DEFAULTDELIVERY (dot-courier syntax)
  std::string maildrop;                        // MAILDROP: path of maildrop
  std::string mailuser, mailgroup;             // MAILUSER/MAILGROUP the scheduler runs as
  std::string logfile;                         // LOGFILE; empty = stderr
  int max_deliveries = 40;                     // MAXDELS
  int max_per_host = 4;                        // MAXHOST: concurrent courieresmtp per domain
  int max_local = 10;                          // MAXLOCAL
  size_t batch_size = 100;                     // batchsize: recipients per SMTP transaction
  std::chrono::seconds local_timeout{900};     // localtimeout
  std::chrono::seconds scan_interval{300};     // QUEUESCAN (seconds)
  RetrySettings retry;

  // DSNs.
  std::string dsnfrom;
  size_t dsnlimit = 32768;
  std::vector<std::string> block_backscatter;  // ESMTP_BLOCKBACKSCATTER
  std::string postmaster = "postmaster";       // where double bounces go
  bool dsn_to_auth_addr = false;               // DSNTOAUTHADDR: notices to the authenticated user

  // Outbound SMTP.
  std::vector<Route> routes;
  std::vector<AuthClientEntry> auth_client;
  std::string esmtphelo;
  std::string dns_server;  // ESMTP_DNS_SERVER: "ip" or "ip:port"; empty = /etc/resolv.conf
  bool use_starttls = true;  // ESMTP_USE_STARTTLS
  bool tls_verify_domain = false;  // ESMTP_TLS_VERIFY_DOMAIN: certificates must match the host
  std::string tls_trustcerts;      // TLS_TRUSTCERTS: CA file or directory (else the system's)
  std::chrono::seconds timeout_connect{60}, timeout{300}, timeout_helo{300}, timeout_data{600},
      timeout_quit{10};

  std::vector<std::string> warnings;  // for the log at start
};

// Reads everything. sysconfdir: SYSCONFDIR unless overridden (-c, or
// $COURIER_SYSCONFDIR); queuedir: $COURIER_QUEUEDIR or LOCALSTATEDIR/spool/courier.
// Errors name the file, line and fix.
lib::Result<Settings> load_settings(const std::string& sysconfdir_override);

// The local part after stripping the domain, when domain is local ("locals", "me"),
// with the account to look up: "user" for locals, "user@domain" for hosted domains.
struct Destination {
  bool local = false;
  std::string account_key;  // what to look up in authdaemond (before extension rules)
  std::string domain;       // lower-case domain ("" for a bare local part)
};
Destination classify(const Settings& s, const std::string& address);

// Candidates for the authdaemond lookup with Courier's extension rules: "a-b-c" (or
// a+b+c with defaultsep "+") tries "a-b-c", then "a-b" with EXT "c", then "a" with
// EXT "b-c". For hosted addresses the domain stays attached.
struct AccountCandidate {
  std::string login;
  std::string ext;
};
std::vector<AccountCandidate> account_candidates(const std::string& key, const std::string& defaultsep);

// The program a delivery instruction runs ("| /usr/bin/maildrop -d x" ->
// "/usr/bin/maildrop"), and whether it can be run: an error naming the setting when not.
lib::Result<void> check_delivery_program(const Settings& s);

}  // namespace courierd
