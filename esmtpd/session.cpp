// esmtpd/session.cpp: see session.hpp.
#include "esmtpd/session.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <ctime>

#include "authlib/client.hpp"
#include "authlib/sasl_server.hpp"
#include "esmtpd/aliases.hpp"
#include "esmtpd/dnscheck.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"
#include "lib/mime.hpp"
#include "lib/rfc5322.hpp"
#include "tls/starttls.hpp"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc/courier"
#endif

namespace esmtpd {

namespace sasl = authlib::sasl;

namespace {

constexpr std::size_t max_command_bytes = 2048;   // RFC 5321 4.5.3.1.4 says 512; AUTH lines are longer
constexpr std::size_t max_data_line_bytes = 65536;
constexpr int max_bad_commands = 20;

std::string env(const char* name, const char* def = "") {
  const char* v = std::getenv(name);
  return v ? v : def;
}

bool env_true(const char* name, bool def = false) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  return v[0] == '1' || v[0] == 'y' || v[0] == 'Y' || v[0] == 't' || v[0] == 'T';
}

std::uint64_t env_number(const char* name, std::uint64_t def) {
  std::string v = env(name);
  std::uint64_t n = def;
  if (!v.empty() && std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc()) return def;
  return n;
}

std::string rfc822_date(std::time_t t) {
  char buf[64];
  struct tm tm;
  ::localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S %z", &tm);
  return buf;
}

const lib::queue::Recipient* find_rcpt(const std::vector<lib::queue::Recipient>& v, const std::string& a) {
  for (const auto& r : v)
    if (lower(r.address) == lower(a)) return &r;
  return nullptr;
}

// CRLF -> LF for BDAT data (DATA lines arrive split already).
std::string crlf_to_lf(std::string_view s, bool* bare_cr) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      if (i + 1 < s.size() && s[i + 1] == '\n') continue;
      *bare_cr = true;
    }
    out.push_back(s[i]);
  }
  return out;
}

// Copies the named header fields of message, for the wrapper of an ambiguous message.
std::string copy_fields(std::string_view message, const lib::rfc5322::Header& h) {
  std::string out;
  for (const auto& f : h.fields)
    for (const char* n : {"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To"})
      if (f.is(n)) {
        std::string text(message.substr(f.offset, f.size));
        if (text.empty() || text.back() != '\n') text.push_back('\n');
        out += text;
      }
  return out;
}

}  // namespace

lib::Result<Settings> Settings::from_environment() {
  Settings s;
  s.sysconfdir = env("COURIER_SYSCONFDIR", SYSCONFDIR);
  s.queuedir = lib::queue::queue_dir();
  s.me = env("ESMTP_HOSTNAME");
  if (s.me.empty()) s.me = read_me(s.sysconfdir);
  std::uint64_t file_limit = 10485760;
  if (auto t = lib::read_small_file(s.sysconfdir + "/sizelimit", 64); t) {
    std::string v = *t;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    std::uint64_t n;
    if (!v.empty() && std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc()) file_limit = n;
  }
  s.sizelimit = env_number("SIZELIMIT", file_limit);
  s.relayclient = std::getenv("RELAYCLIENT") != nullptr;
  s.block = env("BLOCK");
  s.tls_protocol = env("TLS_CONNECTED_PROTOCOL");
  s.tls_active = env_true("ESMTP_TLS") || !s.tls_protocol.empty();
  std::string couriertls = env("COURIERTLS");
  std::string cert = env("TLS_CERTFILE");
  s.starttls_available = !s.tls_active && !couriertls.empty() && ::access(couriertls.c_str(), X_OK) == 0 &&
                         !cert.empty() && ::access(cert.c_str(), R_OK) == 0 && env_true("ESMTP_STARTTLS", true);
  s.auth_required = env_true("AUTH_REQUIRED");
  s.tls_required = env_true("ESMTP_TLS_REQUIRED");
  s.esmtpauth = env("ESMTPAUTH");
  s.esmtpauth_tls = env("ESMTPAUTH_TLS");
  s.tls_external = env("TLS_EXTERNAL");
  s.log_dialog = env_true("ESMTP_LOG_DIALOG");
  s.vrfy = !env_true("BOFHNOVRFY", true);
  s.expn = !env_true("BOFHNOEXPN", true);
  s.refuse_8bit_headers = env("ESMTP_8BIT_HEADERS") == "refuse";
  s.timeout_s = static_cast<int>(env_number("ESMTP_TIMEOUT", 300));
  s.data_timeout_s = static_cast<int>(env_number("ESMTP_DATA_TIMEOUT", 600));
  s.remote_ip = env("TCPREMOTEIP", "127.0.0.1");
  s.remote_host = env("TCPREMOTEHOST");
  s.authdaemon_socket = env("AUTHDAEMON_SOCKET");
  std::string bofh_path = s.sysconfdir + "/bofh";
  int open_errno = 0;
  auto text = lib::read_small_file(bofh_path, 16 * 1024 * 1024, &open_errno);
  if (text) {
    auto b = parse_bofh(*text, bofh_path);
    if (!b) return b.error();
    s.bofh = std::move(*b);
  } else if (open_errno != ENOENT) {
    return text.error();
  }
  s.check_dns = env_true("BOFHCHECKDNS");
  {
    std::string ns = env("BOFHCHECKDNS_NAMESERVERS");
    std::size_t i = 0;
    while (i < ns.size()) {
      auto j = ns.find_first_of(" ,", i);
      std::string w = ns.substr(i, j == std::string::npos ? std::string::npos : j - i);
      if (!w.empty()) s.nameservers.push_back(w);
      if (j == std::string::npos) break;
      i = j + 1;
    }
  }
  s.dns_timeout_ms = static_cast<int>(env_number("BOFHCHECKDNS_TIMEOUT", 5)) * 1000;
  if (std::getenv("MAXRCPTS")) s.bofh.maxrcpts = env_number("MAXRCPTS", s.bofh.maxrcpts);
  return s;
}

// ---------------------------------------------------------------------------
// Recipients
// ---------------------------------------------------------------------------

RcptCheck RecipientPolicy::lookup_account(const std::string& name, const std::string& address) const {
  authlib::ClientOptions opts;
  opts.socket_path = socket_;
  opts.timeout = std::chrono::milliseconds(30000);
  // user-ext and user+ext: the account is the longest prefix that exists
  // (its .courier-ext decides at delivery).
  std::string candidate = name;
  for (;;) {
    auto r = authlib::lookup_account(opts, "esmtp", candidate);
    if (r.status == authlib::AuthStatus::ok) return {250, "250 2.1.5 Ok", "account " + candidate};
    if (r.status == authlib::AuthStatus::temporary)
      return {451, "451 4.3.0 <" + address + ">: cannot check the recipient now, try again later",
              "authdaemond: " + r.error};
    auto at = candidate.find('@');
    std::string local = candidate.substr(0, at);
    std::string domain = at == std::string::npos ? "" : candidate.substr(at);
    auto sep = local.find_last_of("-+");
    if (sep == std::string::npos || sep == 0) break;
    candidate = local.substr(0, sep) + domain;
  }
  return {550, "550 5.1.1 <" + address + ">: unknown user", "no account " + name};
}

RcptCheck RecipientPolicy::check(const std::string& address, bool may_relay) const {
  auto [local, domain] = split_address(address);
  std::string canonical;
  auto kind = domains_.classify(domain, &canonical);
  if (!kind) return {451, "451 4.3.0 Temporary failure: the domain tables cannot be read", kind.error().message};
  bool local_domain = *kind == DomainKind::local;
  if (aliases_) {
    auto lookup = [this](std::string_view key) { return aliases_->lookup(key); };
    auto e = aliases::expand(lookup, address, local_domain);
    if (!e) return {451, "451 4.3.0 Temporary failure: the aliases cannot be read", e.error().message};
    if (e->found) {
      RcptCheck alias{250, "250 2.1.5 Ok", "alias", {}};
      alias.targets = e->targets;
      return alias;
    }
  }
  switch (*kind) {
    case DomainKind::foreign:
      if (may_relay) return {250, "250 2.1.5 Ok", "relayed"};
      return {513, "513 5.7.1 Relaying denied.", "relaying denied for domain " + lower(domain)};
    case DomainKind::accepted:
      return {250, "250 2.1.5 Ok", "accepted domain"};
    case DomainKind::local:
      if (lower(local) == "postmaster") return {250, "250 2.1.5 Ok", "postmaster"};
      return lookup_account(lower(local), address);
    case DomainKind::hosted:
      if (lower(local) == "postmaster") return {250, "250 2.1.5 Ok", "postmaster"};
      return lookup_account(lower(local) + "@" + canonical, address);
  }
  return {550, "550 5.1.1 unknown recipient", "?"};
}

// ---------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------

Session::Session(Settings settings, RecipientPolicy policy) : s_(std::move(settings)), policy_(std::move(policy)) {
  lib::io::ReaderOptions ro;
  ro.max_line_bytes = max_command_bytes;
  ro.read_timeout_ms = s_.timeout_s * 1000;
  ro.idle_timeout_ms = s_.timeout_s * 1000;
  ro.line_ending = lib::io::LineEnding::lf_lenient;
  ro.reject_bare_cr = true;
  in_ = std::make_unique<lib::io::Reader>(0, ro);
  lib::io::WriterOptions wo;
  wo.write_timeout_ms = s_.timeout_s * 1000;
  out_ = std::make_unique<lib::io::Writer>(1, wo);
}

void Session::reply(const std::string& line) {
  if (s_.log_dialog) lib::log::info("dialog: %s > %s", s_.remote_ip.c_str(), line.c_str());
  out_->append(line);
  out_->append("\r\n");
}

bool Session::flush() {
  if (in_->buffered() > 0 && out_->pending() < 8192) return true;  // pipelined: answer together
  auto r = out_->flush();
  if (!r) {
    lib::log::info("session from [%s]: cannot send a reply: %s", s_.remote_ip.c_str(), r.error().message.c_str());
    return false;
  }
  return true;
}

void Session::refused(const std::string& reply_line, const std::string& why) {
  ++refusals_;
  lib::log::notice("refused from [%s] (helo %s): %s: %s", s_.remote_ip.c_str(), helo_.c_str(),
                   reply_line.substr(0, 3).c_str(), why.c_str());
  reply(reply_line);
}

void Session::reset_transaction() { t_ = Transaction{}; }

std::string Session::protocol() const {
  std::string p = ehlo_ ? "ESMTP" : "SMTP";
  if (s_.tls_active) p += "S";
  if (auth_user_) p += "A";
  return p;
}

std::string Session::client_description() const {
  std::string rdns = s_.remote_host.empty() || s_.remote_host == "softdnserr" ? "unknown" : s_.remote_host;
  return (helo_.empty() ? std::string("unknown") : helo_) + " (" + rdns + " [" + s_.remote_ip + "])";
}

std::string Session::received_header(const std::string& qid) const {
  std::string h = "Received: from " + lib::log::sanitize(client_description(), 400) + "\n";
  std::string info;
  if (auth_user_) info = "AUTH: " + *auth_user_;
  if (s_.tls_active) {
    if (!info.empty()) info += ", ";
    info += "TLS: " + (s_.tls_protocol.empty() ? std::string("yes") : s_.tls_protocol);
  }
  if (!info.empty()) h += "  (" + lib::log::sanitize(info, 400) + ")\n";
  h += "  by " + s_.me + " with " + protocol() + "; " + rfc822_date(std::time(nullptr)) + "\n";
  h += "  id " + qid + "\n";
  return h;
}

void Session::handle_ehlo(const Command& cmd, bool extended) {
  std::string name = cmd.arg;
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
  if (name.empty() || name.find_first_of(" \t") != std::string::npos) {
    refused(std::string("501 5.5.4 Syntax: ") + (extended ? "EHLO" : "HELO") + " hostname", "bad HELO argument");
    return;
  }
  helo_ = lib::log::sanitize(name, 255);
  ehlo_ = extended;
  reset_transaction();
  if (!extended) {
    reply("250 " + s_.me + " Ok.");
    return;
  }
  std::vector<std::string> lines = {s_.me + " Ok."};
  lines.push_back("PIPELINING");
  lines.push_back("8BITMIME");
  lines.push_back("SMTPUTF8");
  lines.push_back("DSN");
  lines.push_back("ENHANCEDSTATUSCODES");
  lines.push_back("CHUNKING");
  lines.push_back(s_.sizelimit ? "SIZE " + std::to_string(s_.sizelimit) : "SIZE");
  if (s_.starttls_available && !s_.tls_active) lines.push_back("STARTTLS");
  std::string auth;
  for (auto m : offered_mechanisms()) auth += " " + std::string(sasl::mechanism_name(m));
  if (!external_identity().empty()) auth += " EXTERNAL";
  if (!auth.empty() && !auth_user_) lines.push_back("AUTH" + auth);
  if (s_.vrfy) lines.push_back("VRFY");
  if (s_.expn) lines.push_back("EXPN");
  lines.push_back("HELP");
  for (std::size_t i = 0; i < lines.size(); ++i)
    reply(std::string("250") + (i + 1 < lines.size() ? "-" : " ") + lines[i]);
}

void Session::handle_mail(const Command& cmd) {
  if (helo_.empty()) return refused("503 5.5.1 Send EHLO or HELO first", "MAIL before HELO");
  if (t_.active) return refused("503 5.5.1 Sender already given (send RSET to start over)", "second MAIL");
  if (s_.tls_required && !s_.tls_active) return refused("530 5.7.0 Must issue a STARTTLS command first", "TLS required");
  if (s_.auth_required && !auth_user_ && !s_.relayclient)
    return refused("530 5.7.0 Authentication required", "AUTH required");
  auto [path, error] = parse_path_command(cmd.arg, "FROM:", true);
  if (error) return refused(error->reply, "MAIL FROM syntax: " + lib::log::sanitize(cmd.arg, 200));
  Transaction t;
  t.sender = path->address;
  for (const auto& p : path->params) {
    if (p.keyword == "SIZE") {
      std::uint64_t n = 0;
      if (!p.has_value || std::from_chars(p.value.data(), p.value.data() + p.value.size(), n).ec != std::errc())
        return refused("501 5.5.4 SIZE needs a number", "bad SIZE");
      t.declared_size = n;
    } else if (p.keyword == "BODY") {
      std::string v = p.value;
      for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (v != "7BIT" && v != "8BITMIME" && v != "BINARYMIME")
        return refused("501 5.5.4 BODY must be 7BIT, 8BITMIME or BINARYMIME", "bad BODY");
      t.body = v;
    } else if (p.keyword == "SMTPUTF8" && !p.has_value) {
      t.smtputf8 = true;
    } else if (p.keyword == "RET") {
      std::string v = p.value;
      for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (v != "FULL" && v != "HDRS") return refused("501 5.5.4 RET must be FULL or HDRS", "bad RET");
      t.ret = v;
    } else if (p.keyword == "ENVID") {
      auto d = xtext_decode(p.value);
      if (!d || d->size() > 100 || d->find('\n') != std::string::npos)
        return refused("501 5.5.4 ENVID is not valid xtext", "bad ENVID");
      t.envid = *d;
    } else if (p.keyword == "AUTH") {
      // RFC 4954 5: accepted and ignored from unauthenticated clients.
    } else {
      return refused("555 5.5.4 Unsupported parameter " + lib::log::sanitize(p.keyword, 40), "unknown MAIL parameter");
    }
  }
  if (!t.sender.empty() && !valid_mailbox(t.sender, t.smtputf8))
    return refused("553 5.1.7 <" + lib::log::sanitize(t.sender, 300) + ">: malformed sender address",
                   "malformed sender");
  if (t.body == "BINARYMIME" && false) return;
  if (s_.sizelimit && t.declared_size > s_.sizelimit)
    return refused("552 5.3.4 Message too big: the limit is " + std::to_string(s_.sizelimit) + " bytes",
                   "declared SIZE " + std::to_string(t.declared_size));
  if (!s_.block.empty()) {
    std::string b = s_.block;
    if (b.size() < 4 || b[0] < '4' || b[0] > '5') b = "550 " + b;
    return refused(b, "BLOCK from the access file");
  }
  if (!t.sender.empty() && badfrom_matches(s_.bofh, t.sender))
    return refused("517 5.1.8 <" + t.sender + ">: sender address refused", "bofh badfrom");
  if (!t.sender.empty()) {
    auto [local, domain] = split_address(t.sender);
    std::string d = lower(domain);
    for (const auto& fm : s_.bofh.freemail) {
      if (d != fm) continue;
      std::string host = lower(s_.remote_host);
      bool from_them = host == fm || (host.size() > fm.size() && host.compare(host.size() - fm.size() - 1, std::string::npos, "." + fm) == 0);
      if (!from_them && !auth_user_ && !s_.relayclient)
        return refused("517 5.7.1 Mail from @" + fm + " must come from " + fm + "'s own servers",
                       "bofh freemail " + fm);
    }
  }
  if (s_.check_dns && !t.sender.empty() && !s_.relayclient && !auth_user_) {
    auto [local, domain] = split_address(t.sender);
    if (domain.front() != '[') {
      DnsCheckOptions o;
      o.nameservers = s_.nameservers;
      o.timeout = std::chrono::milliseconds(s_.dns_timeout_ms);
      o.badmx = s_.bofh.badmx;
      DnsCheck c = check_sender_domain(lower(domain), o);
      switch (c.verdict) {
        case DnsVerdict::ok: break;
        case DnsVerdict::no_domain:
          return refused("517 5.1.8 <" + t.sender + ">: the sender's domain has no MX or A record",
                         "BOFHCHECKDNS " + lower(domain) + ": " + c.detail);
        case DnsVerdict::bad_mx:
          return refused("517 5.7.1 <" + t.sender + ">: the sender's domain is refused",
                         "BOFHCHECKDNS " + lower(domain) + ": " + c.detail);
        case DnsVerdict::failed:
          return refused("451 4.4.3 DNS lookup failure for " + lower(domain) + ", try again later",
                         "BOFHCHECKDNS " + lower(domain) + ": " + c.detail);
      }
    }
  }
  t.active = true;
  t_ = std::move(t);
  reply("250 2.1.0 Ok");
}

void Session::handle_rcpt(const Command& cmd) {
  if (!t_.active) return refused("503 5.5.1 Send MAIL FROM first", "RCPT before MAIL");
  auto [path, error] = parse_path_command(cmd.arg, "TO:", false);
  if (error) return refused(error->reply, "RCPT TO syntax: " + lib::log::sanitize(cmd.arg, 200));
  lib::queue::Recipient r;
  r.address = path->address;
  if (r.address.find('@') == std::string::npos && lower(r.address) == "postmaster")
    r.address = "postmaster@" + s_.me;
  for (const auto& p : path->params) {
    if (p.keyword == "NOTIFY") {
      std::string v = p.value;
      for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      bool ok = !v.empty();
      std::size_t start = 0;
      bool never = false, other = false;
      while (ok && start <= v.size()) {
        auto comma = v.find(',', start);
        std::string w = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (w == "NEVER") never = true;
        else if (w == "SUCCESS" || w == "FAILURE" || w == "DELAY") other = true;
        else ok = false;
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      if (!ok || (never && other)) return refused("501 5.5.4 NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY", "bad NOTIFY");
      r.notify = v;
    } else if (p.keyword == "ORCPT") {
      auto semi = p.value.find(';');
      auto d = semi == std::string::npos ? std::nullopt : xtext_decode(p.value.substr(semi + 1));
      if (!d || d->find_first_of("\t\n") != std::string::npos) return refused("501 5.5.4 ORCPT must be type;xtext", "bad ORCPT");
      r.orcpt = p.value.substr(0, semi) + ";" + *d;
    } else {
      return refused("555 5.5.4 Unsupported parameter " + lib::log::sanitize(p.keyword, 40), "unknown RCPT parameter");
    }
  }
  if (!valid_mailbox(r.address, t_.smtputf8))
    return refused("553 5.1.3 <" + lib::log::sanitize(r.address, 300) + ">: malformed recipient address",
                   "malformed recipient");
  if (t_.recipients.size() >= s_.bofh.maxrcpts) {
    if (s_.bofh.maxrcpts_hard) {
      t_.failed_hard = true;
      return refused("552 5.5.3 Too many recipients (at most " + std::to_string(s_.bofh.maxrcpts) +
                         "): the message is refused",
                     "maxrcpts hard");
    }
    return refused("452 4.5.3 Too many recipients (at most " + std::to_string(s_.bofh.maxrcpts) +
                       " per message): send the rest in another message",
                   "maxrcpts");
  }
  if (find_rcpt(t_.recipients, r.address)) {
    reply("250 2.1.5 Ok (duplicate recipient)");
    return;
  }
  for (const auto& trap : s_.bofh.spamtrap)
    if (lower(r.address) == trap) {
      t_.spamtrap = true;
      return refused("550 5.7.1 <" + r.address + ">: address refused", "bofh spamtrap " + trap);
    }
  bool may_relay = s_.relayclient || auth_user_.has_value();
  RcptCheck c = policy_.check(r.address, may_relay);
  if (c.code != 250) {
    if (c.code == 451) lib::log::error("recipient check for <%s>: %s", r.address.c_str(), c.why.c_str());
    return refused(c.reply, "<" + lib::log::sanitize(r.address, 300) + ">: " + c.why);
  }
  if (!c.targets.empty()) {
    // The expansion goes into the queue; a target reached twice is written once.
    if (r.orcpt.empty()) r.orcpt = "rfc822;" + r.address;
    for (const auto& target : c.targets) {
      if (find_rcpt(t_.recipients, target)) continue;
      lib::queue::Recipient t = r;
      t.address = target;
      t_.recipients.push_back(std::move(t));
    }
    reply(c.reply);
    return;
  }
  t_.recipients.push_back(std::move(r));
  reply(c.reply);
}

void Session::finish_message(std::string& message, const std::string& problem) {
  auto done = [this]() { reset_transaction(); };
  if (!problem.empty()) {
    refused(problem, "message refused");
    return done();
  }
  if (t_.spamtrap) {
    refused("550 5.7.1 Message refused (it was addressed to a spam trap)", "spamtrap");
    return done();
  }
  if (t_.failed_hard) {
    refused("552 5.5.3 Too many recipients: the message is refused", "maxrcpts hard");
    return done();
  }
  // MIME structure.
  lib::mime::Limits limits;
  limits.max_depth = 20;
  limits.max_parts = 1000;
  limits.check_encodings = false;
  auto parsed = lib::mime::parse(message, limits);
  if (parsed.has(lib::rfc5322::DiagnosticKind::too_complex)) {
    refused("552 5.6.0 Message refused: its MIME structure is too complex (more than 20 nested parts or 1000 "
            "parts); send it as a simpler message or an archive",
            "MIME too complex");
    return done();
  }
  if (parsed.has(lib::rfc5322::DiagnosticKind::eight_bit_in_headers) && !t_.smtputf8 &&
      s_.refuse_8bit_headers) {
    refused("554 5.6.7 Message refused: 8-bit characters in the header without SMTPUTF8 (RFC 6532); encode "
            "them (RFC 2047)",
            "8-bit header");
    return done();
  }
  std::string reasons;
  for (const auto& d : parsed.diagnostics)
    if (d.kind == lib::rfc5322::DiagnosticKind::bad_boundary ||
        d.kind == lib::rfc5322::DiagnosticKind::missing_close_delimiter) {
      if (!reasons.empty()) reasons += "; ";
      reasons += lib::rfc5322::diagnostic_name(d.kind);
    }

  auto sub = lib::queue::Submission::begin(s_.queuedir);
  if (!sub) {
    lib::log::error("queue: %s", sub.error().message.c_str());
    refused("452 4.3.1 Cannot queue the message now (the mail queue cannot be written); try again later",
            "queue: " + sub.error().message);
    return done();
  }
  lib::Result<void> w = sub->write(received_header(sub->qid()));
  if (w && reasons.empty()) {
    w = sub->write(message);
  } else if (w) {
    std::string boundary = "=_esmtpd_wrapped_" + sub->qid();
    auto header = parsed.root.header;
    std::string wrapped = copy_fields(message, header);
    wrapped += "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"" + boundary + "\"\n\n";
    wrapped += "--" + boundary + "\nContent-Type: text/plain; charset=us-ascii\n\n";
    wrapped += "The mail server " + s_.me + " received this message but its MIME structure is\n"
               "ambiguous (" + reasons + "): mail programs could show different\n"
               "contents to different readers. It is attached unchanged, byte for byte.\n\n";
    wrapped += "--" + boundary + "\nContent-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n"
               "Content-Disposition: attachment; filename=\"original.eml\"\n\n";
    // message/rfc822 must not be encoded; keep the bytes. The boundary cannot
    // occur in the original: it contains the fresh queue id.
    wrapped += message;
    if (!message.empty() && message.back() != '\n') wrapped += "\n";
    wrapped += "--" + boundary + "--\n";
    w = sub->write(wrapped);
    lib::log::notice("message %s: ambiguous MIME structure (%s): wrapped", sub->qid().c_str(), reasons.c_str());
  }
  lib::queue::Envelope e;
  e.accepted = std::time(nullptr);
  e.sender = t_.sender;
  e.auth_user = auth_user_;
  e.client = client_description();
  e.protocol = protocol();
  e.body = t_.body;
  e.smtputf8 = t_.smtputf8;
  e.envid = t_.envid;
  e.ret = t_.ret;
  e.recipients = t_.recipients;
  if (w) w = sub->commit(e);
  if (!w) {
    lib::log::error("queue: %s", w.error().message.c_str());
    refused("452 4.3.1 Insufficient system storage: the message was not queued; try again later",
            "queue: " + w.error().message);
    return done();
  }
  std::string qid = sub->qid();
  ++messages_;
  lib::log::info("accepted %s: size=%llu from=<%s> rcpts=%zu client=%s tls=%s auth=%s", qid.c_str(),
                 static_cast<unsigned long long>(sub->size()), lib::log::sanitize(t_.sender, 300).c_str(),
                 t_.recipients.size(), lib::log::sanitize(client_description(), 300).c_str(),
                 s_.tls_active ? (s_.tls_protocol.empty() ? "yes" : s_.tls_protocol.c_str()) : "no",
                 auth_user_ ? auth_user_->c_str() : "-");
  reply("250 2.0.0 Ok: queued as " + qid);
  if (lib::queue::poke_trigger(s_.queuedir) == lib::queue::PokeResult::not_running) {
    static bool warned = false;
    if (!warned) lib::log::warning("%s", lib::queue::not_running_message(s_.queuedir).c_str());
    warned = true;
  }
  done();
}

void Session::handle_data() {
  if (!t_.active) return refused("503 5.5.1 Send MAIL FROM first", "DATA before MAIL");
  if (t_.recipients.empty()) return refused("554 5.5.1 No valid recipients", "DATA without recipients");
  if (!t_.bdat_data.empty() || t_.bdat_failed) return refused("503 5.5.1 DATA after BDAT", "DATA after BDAT");
  reply("354 Send the message, ending with <CRLF>.<CRLF>");
  if (auto r = out_->flush(); !r) {
    quit_ = true;
    return;
  }
  // DATA lines: CRLF strict. A bare LF or bare CR never ends the data; it makes the
  // message refused at the end.
  in_->set_line_ending(lib::io::LineEnding::crlf_strict, true);
  in_->set_max_line_bytes(max_data_line_bytes);
  in_->set_timeouts(s_.data_timeout_s * 1000, s_.data_timeout_s * 1000);
  std::string message, line, problem;
  bool prev_clean = true;  // the previous line ended in CRLF
  bool in_header = true;
  for (;;) {
    auto st = in_->read_line(line);
    if (st == lib::io::ReadStatus::ok) {
      if (prev_clean && line == ".") break;
      prev_clean = true;
      std::string_view l = line;
      if (!l.empty() && l[0] == '.') l.remove_prefix(1);
      if (in_header && l.empty()) in_header = false;
      if (problem.empty()) {
        if (s_.sizelimit && message.size() + l.size() + 1 > s_.sizelimit) {
          problem = "552 5.3.4 Message too big: the limit is " + std::to_string(s_.sizelimit) + " bytes";
          message.clear();
          message.shrink_to_fit();
        } else {
          message.append(l);
          message.push_back('\n');
        }
      }
      continue;
    }
    prev_clean = false;
    if (st == lib::io::ReadStatus::bare_lf || st == lib::io::ReadStatus::bare_cr) {
      if (problem.empty())
        problem = std::string("550 5.6.0 Message refused: it contains a bare ") +
                  (st == lib::io::ReadStatus::bare_lf ? "LF (a line feed without carriage return)"
                                                      : "CR (a carriage return without line feed)") +
                  ", which SMTP does not allow (RFC 5321 2.3.8)";
      continue;
    }
    if (st == lib::io::ReadStatus::too_long) {
      if (problem.empty()) problem = "554 5.6.0 Message refused: a line is longer than 65536 bytes";
      continue;
    }
    if (st == lib::io::ReadStatus::nul_byte) {
      if (problem.empty()) problem = "554 5.6.0 Message refused: it contains a NUL byte";
      continue;
    }
    // eof, timeout, error: the session is over; nothing was queued.
    lib::log::notice("session from [%s]: %s during DATA; message discarded", s_.remote_ip.c_str(),
                     lib::io::describe(st));
    if (st == lib::io::ReadStatus::timeout) {
      reply("421 4.4.2 " + s_.me + " Timeout waiting for data");
      (void)out_->flush();
    }
    quit_ = true;
    return;
  }
  in_->set_line_ending(lib::io::LineEnding::lf_lenient, true);
  in_->set_max_line_bytes(max_command_bytes);
  in_->set_timeouts(s_.timeout_s * 1000, s_.timeout_s * 1000);
  finish_message(message, problem);
}

void Session::handle_bdat(const Command& cmd) {
  auto args = parse_bdat(cmd.arg);
  if (!args) return refused("501 5.5.4 Syntax: BDAT size [LAST]", "bad BDAT");
  // The chunk is read whatever happens, so the stream stays in step.
  std::string chunk;
  bool too_big = false;
  std::uint64_t limit = s_.sizelimit ? s_.sizelimit : UINT64_MAX;
  if (t_.bdat_data.size() + args->size > limit) too_big = true;
  lib::io::ReadStatus st;
  if (too_big || !t_.active || t_.recipients.empty()) {
    st = in_->skip_exact(args->size);
  } else {
    st = in_->read_exact(args->size, chunk);
  }
  if (st != lib::io::ReadStatus::ok) {
    lib::log::notice("session from [%s]: %s during BDAT; message discarded", s_.remote_ip.c_str(), lib::io::describe(st));
    quit_ = true;
    return;
  }
  if (!t_.active) return refused("503 5.5.1 Send MAIL FROM first", "BDAT before MAIL");
  if (t_.recipients.empty()) return refused("554 5.5.1 No valid recipients", "BDAT without recipients");
  if (too_big) {
    t_.bdat_failed = true;
    t_.bdat_error = "552 5.3.4 Message too big: the limit is " + std::to_string(s_.sizelimit) + " bytes";
    t_.bdat_data.clear();
  } else if (!t_.bdat_failed) {
    t_.bdat_data += chunk;
  }
  if (!args->last) {
    if (t_.bdat_failed) return refused(t_.bdat_error, "BDAT refused");
    reply("250 2.0.0 " + std::to_string(args->size) + " octets received");
    return;
  }
  bool bare_cr = false;
  std::string message = crlf_to_lf(t_.bdat_data, &bare_cr);
  t_.bdat_data.clear();
  std::string problem = t_.bdat_failed ? t_.bdat_error : "";
  if (problem.empty() && t_.body != "BINARYMIME" && bare_cr)
    problem = "550 5.6.0 Message refused: it contains a bare CR, which SMTP does not allow (RFC 5321 2.3.8)";
  finish_message(message, problem);
}

bool Session::handle_starttls() {
  if (!s_.starttls_available || s_.tls_active) {
    refused("454 4.7.0 TLS not available", "STARTTLS not available");
    return true;
  }
  reply("220 2.0.0 Ready to start TLS");
  if (!out_->flush()) return false;
  std::size_t dropped = in_->discard_buffered();
  if (dropped) {
    lib::log::warning("session from [%s]: %zu bytes sent in plaintext after STARTTLS were discarded (STARTTLS injection attempt?)",
                      s_.remote_ip.c_str(), dropped);
  }
  tls::StartTlsOptions opts;
  auto fd = tls::start_tls(0, opts);
  if (!fd) {
    lib::log::error("STARTTLS from [%s] failed: %s", s_.remote_ip.c_str(), fd.error().message.c_str());
    return false;
  }
  ::dup2(*fd, 0);
  ::dup2(*fd, 1);
  ::close(*fd);
  lib::io::ReaderOptions ro = in_->options();
  in_ = std::make_unique<lib::io::Reader>(0, ro);
  lib::io::WriterOptions wo;
  wo.write_timeout_ms = s_.timeout_s * 1000;
  out_ = std::make_unique<lib::io::Writer>(1, wo);
  s_.tls_active = true;
  s_.tls_protocol = env("TLS_CONNECTED_PROTOCOL", "yes");
  helo_.clear();
  ehlo_ = false;
  reset_transaction();
  return true;
}

void Session::handle_vrfy(const Command& cmd) {
  if (!s_.vrfy) return refused("252 2.5.2 Send some mail, I'll try my best", "VRFY disabled");
  std::string a = cmd.arg;
  if (a.size() > 1 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  if (a.find('@') == std::string::npos) a += "@" + s_.me;
  RcptCheck c = policy_.check(a, false);
  if (c.code == 250) reply("250 2.1.5 <" + a + ">");
  else reply(c.reply);
}

std::vector<sasl::Mechanism> Session::offered_mechanisms() const {
  const std::string& list = s_.tls_active && !s_.esmtpauth_tls.empty() ? s_.esmtpauth_tls : s_.esmtpauth;
  std::vector<sasl::Mechanism> out;
  std::size_t i = 0;
  while (i < list.size()) {
    auto j = list.find_first_of(" \t,", i);
    std::string word = list.substr(i, j == std::string::npos ? std::string::npos : j - i);
    i = j == std::string::npos ? list.size() : j + 1;
    if (word.empty()) continue;
    auto m = sasl::mechanism_from_name(word);
    if (!m || *m == sasl::Mechanism::external) continue;  // EXTERNAL: see TLS_EXTERNAL
    out.push_back(*m);
  }
  return out;
}

std::string Session::external_identity() const {
  if (!s_.tls_active || s_.tls_external.empty()) return {};
  std::string field = s_.tls_external;
  for (char& c : field) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env(("TLS_SUBJECT_" + field).c_str());
}

namespace {

class SmtpSasl final : public authlib::SaslTransport {
 public:
  SmtpSasl(lib::io::Reader& in, lib::io::Writer& out) : in_(in), out_(out) {}
  void send_challenge(std::string_view b64) override {
    out_.append("334 ");
    out_.append(b64);
    out_.append("\r\n");
  }
  std::optional<std::string> read_response() override {
    if (!out_.flush()) return std::nullopt;
    std::string line;
    auto st = in_.read_line(line);
    if (st == lib::io::ReadStatus::ok) return line;
    if (st == lib::io::ReadStatus::too_long || st == lib::io::ReadStatus::bare_cr ||
        st == lib::io::ReadStatus::nul_byte)
      return std::string("!");  // not base64: a malformed response
    return std::nullopt;
  }

 private:
  lib::io::Reader& in_;
  lib::io::Writer& out_;
};

}  // namespace

void Session::handle_auth(const Command& cmd) {
  if (helo_.empty() || !ehlo_) return refused("503 5.5.1 Send EHLO first", "AUTH before EHLO");
  if (auth_user_) return refused("503 5.5.1 Already authenticated", "second AUTH");
  if (t_.active) return refused("503 5.5.1 AUTH is not allowed during a mail transaction", "AUTH in transaction");
  std::string arg = cmd.arg;
  auto sp = arg.find(' ');
  std::string mech = arg.substr(0, sp);
  std::string ir = sp == std::string::npos ? "" : arg.substr(sp + 1);
  while (!ir.empty() && ir.front() == ' ') ir.erase(0, 1);
  if (mech.empty()) return refused("501 5.5.4 Syntax: AUTH mechanism [initial-response]", "AUTH syntax");
  authlib::SaslRequest req;
  req.mechanism = mech;
  if (sp != std::string::npos && !ir.empty()) req.initial_response = ir;
  req.offered = offered_mechanisms();
  std::string ext = external_identity();
  if (!ext.empty()) {
    req.offered.push_back(sasl::Mechanism::external);
    req.external_identity = ext;
  }
  req.service = "esmtp";
  req.hostname = s_.me;
  authlib::ClientOptions opts;
  opts.socket_path = s_.authdaemon_socket;
  opts.remote_ip = s_.remote_ip;
  authlib::DaemonAuthenticator daemon(opts);
  SmtpSasl transport(*in_, *out_);
  auto o = authlib::run_sasl_exchange(req, transport, daemon);
  using S = authlib::SaslStatus;
  switch (o.status) {
    case S::authenticated:
      auth_user_ = o.user;
      lib::log::info("AUTH %s from [%s]: user %s authenticated", o.mechanism.c_str(), s_.remote_ip.c_str(),
                     lib::log::sanitize(o.user, 200).c_str());
      reply("235 2.7.0 Authentication successful");
      return;
    case S::connection_lost:
      quit_ = true;
      return;
    case S::not_offered:
      return refused("504 5.5.4 Unrecognized authentication mechanism", "AUTH " + lib::log::sanitize(mech, 30) + " not offered");
    case S::cancelled:
      return refused("501 5.7.0 Authentication cancelled", "AUTH cancelled");
    case S::temporary_failure:
      lib::log::error("AUTH from [%s]: %s", s_.remote_ip.c_str(), o.reason.c_str());
      return refused("454 4.7.0 Temporary authentication failure, try again later", "AUTH: " + o.reason);
    case S::malformed:
    case S::initial_response_refused:
      ++auth_failures_;
      return refused("501 5.5.2 Malformed authentication data", "AUTH: " + o.reason);
    case S::rejected:
    case S::authorization_refused:
      ++auth_failures_;
      refused("535 5.7.8 Authentication credentials invalid",
              "AUTH " + o.mechanism + " failed for " + lib::log::sanitize(o.user, 200) + ": " + o.reason);
      if (auth_failures_ >= 3) {
        reply("421 4.7.0 Too many failed authentications, closing");
        quit_ = true;
      }
      return;
  }
}

int Session::run() {
  lib::log::info("session from [%s] (%s) started", s_.remote_ip.c_str(),
                 s_.remote_host.empty() ? "no rdns" : lib::log::sanitize(s_.remote_host, 255).c_str());
  reply("220 " + s_.me + " ESMTP");
  if (!flush()) return 1;
  int bad = 0;
  std::string line;
  const char* end_reason = "QUIT";
  while (!quit_) {
    auto st = in_->read_line(line);
    if (st == lib::io::ReadStatus::eof || st == lib::io::ReadStatus::error) {
      end_reason = st == lib::io::ReadStatus::eof ? "client closed" : "read error";
      break;
    }
    if (st == lib::io::ReadStatus::timeout) {
      reply("421 4.4.2 " + s_.me + " Timeout, closing");
      (void)out_->flush();
      end_reason = "timeout";
      break;
    }
    if (st != lib::io::ReadStatus::ok) {
      refused("500 5.5.2 Command line refused: " + std::string(lib::io::describe(st)), lib::io::describe(st));
      if (++bad > max_bad_commands) break;
      if (!flush()) break;
      continue;
    }
    Command cmd = parse_command(line);
    if (s_.log_dialog)
      lib::log::info("dialog: %s < %s", s_.remote_ip.c_str(), lib::log::mask_auth_line(line).c_str());
    switch (cmd.verb) {
      case Verb::helo: handle_ehlo(cmd, false); break;
      case Verb::ehlo: handle_ehlo(cmd, true); break;
      case Verb::mail: handle_mail(cmd); break;
      case Verb::rcpt: handle_rcpt(cmd); break;
      case Verb::data: handle_data(); break;
      case Verb::bdat: handle_bdat(cmd); break;
      case Verb::rset: reset_transaction(); reply("250 2.0.0 Ok"); break;
      case Verb::noop: reply("250 2.0.0 Ok"); break;
      case Verb::quit:
        reply("221 2.0.0 " + s_.me + " closing connection");
        quit_ = true;
        break;
      case Verb::help: reply("214 2.0.0 See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS"); break;
      case Verb::vrfy: handle_vrfy(cmd); break;
      case Verb::expn:
        refused("502 5.5.1 EXPN is disabled", "EXPN");
        break;
      case Verb::starttls:
        if (!handle_starttls()) quit_ = true;
        break;
      case Verb::auth: handle_auth(cmd); break;
      case Verb::unknown:
        refused("500 5.5.1 Unknown command", "unknown command " + lib::log::sanitize(cmd.name, 20));
        if (++bad > max_bad_commands) {
          reply("421 4.7.0 Too many errors, closing");
          quit_ = true;
        }
        break;
    }
    if (!flush()) break;
  }
  (void)out_->flush();
  lib::log::info("session from [%s] ended (%s): %d messages, %d refusals", s_.remote_ip.c_str(), end_reason,
                 messages_, refusals_);
  return 0;
}

}  // namespace esmtpd
