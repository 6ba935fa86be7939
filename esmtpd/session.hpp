// esmtpd/session.hpp: one SMTP session (RFC 5321) on fds 0/1, as couriertcpd starts
// esmtpd: blocking I/O with deadlines through lib::io, the queue commit (lib/queue)
// before every 250 to end-of-data.
//
// Stream safety: DATA ends only at CRLF "." CRLF; a bare CR or bare LF never ends it
// and makes the message refused (the SMTP smuggling class); after STARTTLS every
// byte the client pipelined in plaintext is discarded (the injection class).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "authlib/sasl.hpp"
#include "esmtpd/command.hpp"
#include "esmtpd/policy.hpp"
#include "lib/dbfile.hpp"
#include "lib/io.hpp"
#include "lib/queue.hpp"

namespace esmtpd {

struct Settings {
  std::string sysconfdir;
  std::string queuedir;
  std::string me;
  std::uint64_t sizelimit = 10485760;  // 0: unlimited
  bool relayclient = false;            // RELAYCLIENT set by the access file
  std::string block;                   // BLOCK: refuse every message with this reply
  bool tls_active = false;             // implicit TLS (esmtpd-ssl) or after STARTTLS
  std::string tls_protocol;            // TLS_CONNECTED_PROTOCOL
  bool starttls_available = false;     // couriertls and TLS_CERTFILE usable
  bool auth_required = false;          // AUTH_REQUIRED (esmtpd-msa)
  bool tls_required = false;           // ESMTP_TLS_REQUIRED
  std::string esmtpauth;               // ESMTPAUTH
  std::string esmtpauth_tls;           // ESMTPAUTH_TLS
  std::string tls_external;            // TLS_EXTERNAL: certificate field naming the EXTERNAL identity
  bool log_dialog = false;             // ESMTP_LOG_DIALOG
  bool vrfy = false, expn = false;     // !BOFHNOVRFY / !BOFHNOEXPN (both off by default)
  bool refuse_8bit_headers = false;    // ESMTP_8BIT_HEADERS=refuse
  int timeout_s = 300;                 // ESMTP_TIMEOUT
  int data_timeout_s = 600;
  std::string remote_ip = "127.0.0.1";  // TCPREMOTEIP
  std::string remote_host;              // TCPREMOTEHOST
  std::string authdaemon_socket;        // empty: authlib's default
  Bofh bofh;
  bool check_dns = false;                 // BOFHCHECKDNS
  std::vector<std::string> nameservers;   // BOFHCHECKDNS_NAMESERVERS (tests); empty: resolv.conf
  int dns_timeout_ms = 5000;              // BOFHCHECKDNS_TIMEOUT (seconds), per attempt

  // From the environment couriertcpd and the start script give esmtpd.
  static lib::Result<Settings> from_environment();
};

// The answer to a recipient.
struct RcptCheck {
  int code = 250;
  std::string reply;  // whole reply line without CRLF
  std::string why;    // for the log
  // An alias: what the address becomes. These go into the queue (as Courier's submit
  // writes the expansion), each with the alias as its original recipient, so that
  // courierd delivers to them.
  std::vector<std::string> targets;
};

// The checks of RCPT TO that do not need the session (tested directly).
class RecipientPolicy {
 public:
  RecipientPolicy(Domains domains, std::shared_ptr<lib::DbFile> aliases, std::string authdaemon_socket)
      : domains_(std::move(domains)), aliases_(std::move(aliases)), socket_(std::move(authdaemon_socket)) {}
  RcptCheck check(const std::string& address, bool may_relay) const;
  const Domains& domains() const { return domains_; }

 private:
  RcptCheck lookup_account(const std::string& name, const std::string& address) const;
  Domains domains_;
  std::shared_ptr<lib::DbFile> aliases_;
  std::string socket_;
};

class Session {
 public:
  Session(Settings settings, RecipientPolicy policy);
  // Runs until QUIT, EOF, a timeout or a fatal error. Returns the exit status.
  int run();

 private:
  struct Transaction {
    bool active = false;
    std::string sender;
    std::vector<lib::queue::Recipient> recipients;
    std::string body = "7BIT";
    bool smtputf8 = false;
    std::optional<std::string> envid, ret;
    std::uint64_t declared_size = 0;
    bool spamtrap = false;
    bool failed_hard = false;  // maxrcpts hard
    std::string bdat_data;     // BDAT chunks so far
    bool bdat_failed = false;
    std::string bdat_error;
  };

  void reply(const std::string& line);  // adds CRLF, logs with ESMTP_LOG_DIALOG
  bool flush();                          // flushes when no more input is pipelined
  void handle_ehlo(const Command& cmd, bool extended);
  void handle_mail(const Command& cmd);
  void handle_rcpt(const Command& cmd);
  void handle_data();
  void handle_bdat(const Command& cmd);
  bool handle_starttls();
  void handle_vrfy(const Command& cmd);
  void handle_auth(const Command& cmd);
  // What EHLO offers now: ESMTPAUTH, or ESMTPAUTH_TLS once TLS is on (if set).
  std::vector<authlib::sasl::Mechanism> offered_mechanisms() const;
  std::string external_identity() const;
  void refused(const std::string& reply_line, const std::string& why);
  // Finishes a message (DATA or BDAT LAST): checks, queue commit, reply.
  void finish_message(std::string& message, const std::string& problem);
  std::string received_header(const std::string& qid) const;
  std::string protocol() const;
  std::string client_description() const;
  void reset_transaction();

  Settings s_;
  RecipientPolicy policy_;
  std::unique_ptr<lib::io::Reader> in_;
  std::unique_ptr<lib::io::Writer> out_;
  std::string helo_;
  bool ehlo_ = false;
  std::optional<std::string> auth_user_;
  Transaction t_;
  int messages_ = 0;
  int refusals_ = 0;
  int auth_failures_ = 0;
  bool quit_ = false;
};

}  // namespace esmtpd
