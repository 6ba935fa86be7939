// courierd/smtp_client.cpp: see smtp_client.hpp.
#include "courierd/smtp_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "courierd/mx.hpp"
#include "courierd/smtp_reply.hpp"
#include "lib/ascii.hpp"
#include "lib/io.hpp"
#include "lib/log.hpp"
#include "lib/rfc5322.hpp"
#include "lib/unique_fd.hpp"
#include "tls/pem.hpp"
#include "tls/relay.hpp"
#include "tls/session.hpp"

namespace courierd {

std::string xtext(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c < 33 || c > 126 || c == '+' || c == '=') {
      out += '+';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool has_8bit(std::string_view text) {
  for (unsigned char c : text)
    if (c & 0x80) return true;
  return false;
}

std::optional<std::string> downgrade_8bit(const std::string& message) {
  auto header = lib::rfc5322::parse_header(message);
  std::string_view head(message.data(), header.end);
  std::string_view body = std::string_view(message).substr(header.body_start);
  if (auto ct = header.value("Content-Type")) {
    if (lib::rfc5322::to_lower(*ct).find("multipart/") != std::string::npos) return std::nullopt;
  }
  if (has_8bit(head)) return std::nullopt;  // 8-bit headers cannot be fixed here
  std::string out;
  // The header without its Content-Transfer-Encoding field, then ours.
  for (const auto& f : header.fields) {
    if (f.is("Content-Transfer-Encoding")) continue;
    out.append(message, f.offset, f.size);
  }
  if (!header.find("MIME-Version")) out += "MIME-Version: 1.0\n";
  if (!header.find("Content-Type")) out += "Content-Type: text/plain; charset=utf-8\n";
  out += "Content-Transfer-Encoding: quoted-printable\n\n";
  static const char* hex = "0123456789ABCDEF";
  size_t col = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(body[i]);
    if (c == '\n') {
      // Trailing blanks before a line end must be encoded.
      if (!out.empty() && (out.back() == ' ' || out.back() == '\t')) {
        char b = out.back();
        out.pop_back();
        out += '=';
        out += hex[static_cast<unsigned char>(b) >> 4];
        out += hex[b & 15];
      }
      out += '\n';
      col = 0;
      continue;
    }
    std::string piece;
    if ((c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t') {
      piece = std::string(1, static_cast<char>(c));
    } else {
      piece = {'=', hex[c >> 4], hex[c & 15]};
    }
    if (col + piece.size() > 75) {
      out += "=\n";
      col = 0;
    }
    out += piece;
    col += piece.size();
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

int ms(std::chrono::seconds s) { return static_cast<int>(std::min<long long>(s.count() * 1000, 1 << 30)); }

lib::Result<lib::UniqueFd> connect_to(const MxTarget& t, std::chrono::seconds timeout) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, t.ip.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(t.port));
    len = sizeof *sin;
  } else if (inet_pton(AF_INET6, t.ip.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(t.port));
    len = sizeof *sin6;
  } else {
    return lib::permanent_error("\"" + t.ip + "\" is not an IP address");
  }
  lib::UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return lib::temporary_error("socket: " + lib::errno_text(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return lib::temporary_error("connect: " + lib::errno_text(errno));
    pollfd p{fd.get(), POLLOUT, 0};
    int n;
    do n = ::poll(&p, 1, ms(timeout));
    while (n < 0 && errno == EINTR);
    if (n == 0) return lib::temporary_error("connect: timed out after " + std::to_string(timeout.count()) + " s");
    int err = 0;
    socklen_t el = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) return lib::temporary_error("connect: " + lib::errno_text(err));
  }
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

struct Session {
  const Settings& s;
  const MxTarget& target;
  lib::UniqueFd sock;
  lib::UniqueFd plain;  // after STARTTLS: our end of the socketpair to the TLS relay
  pid_t relay_pid = -1;
  std::unique_ptr<lib::io::Reader> in;
  std::unique_ptr<lib::io::Writer> out;
  std::string error;  // why the last command failed at the connection level

  Session(const Settings& st, const MxTarget& t, lib::UniqueFd fd) : s(st), target(t), sock(std::move(fd)) {
    attach(sock.get());
  }
  ~Session() {
    in.reset();
    out.reset();
    plain.reset();
    if (relay_pid > 0) {
      int st = 0;
      ::waitpid(relay_pid, &st, 0);
    }
  }
  void attach(int fd) {
    lib::io::ReaderOptions ro;
    ro.max_line_bytes = smtp_reply_max_line_bytes;
    ro.line_ending = lib::io::LineEnding::lf_lenient;
    ro.reject_bare_cr = false;
    ro.read_timeout_ms = ms(s.timeout);
    ro.idle_timeout_ms = ms(s.timeout);
    in = std::make_unique<lib::io::Reader>(fd, ro);
    lib::io::WriterOptions wo;
    wo.write_timeout_ms = ms(s.timeout);
    out = std::make_unique<lib::io::Writer>(fd, wo);
  }
  std::string relay() const { return target.host + " [" + target.ip + "]"; }

  // Reads one reply; nullopt on a connection problem (error says what).
  std::optional<SmtpReply> read_reply(std::chrono::seconds timeout) {
    in->set_timeouts(ms(timeout), ms(timeout));
    SmtpReplyParser parser;
    std::string line;
    while (true) {
      auto st = in->read_line(line);
      if (st != lib::io::ReadStatus::ok) {
        error = std::string("reading the reply of ") + relay() + ": " + lib::io::describe(st) +
                (st == lib::io::ReadStatus::error ? " (" + lib::errno_text(in->last_errno()) + ")" : "");
        return std::nullopt;
      }
      switch (parser.feed(line)) {
        case SmtpReplyParser::Step::more: continue;
        case SmtpReplyParser::Step::done: return parser.reply();
        case SmtpReplyParser::Step::error:
          error = relay() + " sent a malformed reply (" + parser.error() + "): " + lib::log::sanitize(line, 200);
          return std::nullopt;
      }
    }
  }
  std::optional<SmtpReply> command(const std::string& line, std::chrono::seconds timeout) {
    if (auto ok = out->write_now(line + "\r\n"); !ok) {
      error = "sending to " + relay() + ": " + ok.error().message;
      return std::nullopt;
    }
    return read_reply(timeout);
  }

  // verify: the certificate must chain to TLS_TRUSTCERTS (or the system's CAs) and
  // name the host (or the address, for a literal route); else TLS is opportunistic
  // (RFC 7435): any certificate is taken, the session is still encrypted.
  lib::Result<void> start_tls(bool verify) {
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    if (!ctx) return lib::temporary_error("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    if (verify) {
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
      int loaded = 0;
      if (s.tls_trustcerts.empty()) {
        loaded = SSL_CTX_set_default_verify_paths(ctx.get());
      } else {
        struct stat st{};
        bool dir = ::stat(s.tls_trustcerts.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
        loaded = SSL_CTX_load_verify_locations(ctx.get(), dir ? nullptr : s.tls_trustcerts.c_str(),
                                               dir ? s.tls_trustcerts.c_str() : nullptr);
      }
      if (loaded != 1)
        return lib::temporary_error("cannot load the trusted certificates TLS_TRUSTCERTS=" + s.tls_trustcerts + ": " +
                                    tls::openssl_error_text() + " (it must be readable by the mail user)");
    } else {
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    }
    SSL* ssl = SSL_new(ctx.get());
    if (!ssl) return lib::temporary_error("SSL_new failed");
    std::unique_ptr<SSL, decltype(&SSL_free)> guard(ssl, SSL_free);
    if (verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      if (target.host == target.ip)
        X509_VERIFY_PARAM_set1_ip_asc(param, target.ip.c_str());
      else
        X509_VERIFY_PARAM_set1_host(param, target.host.c_str(), 0);
    }
    SSL_set_fd(ssl, sock.get());
    SSL_set_connect_state(ssl);
    if (!target.host.empty() && target.host != target.ip) SSL_set_tlsext_host_name(ssl, target.host.c_str());
    if (auto ok = tls::handshake(ssl, sock.get(), Clock::now() + s.timeout_helo); !ok) {
      long v = SSL_get_verify_result(ssl);
      if (verify && v != X509_V_OK)
        return lib::temporary_error(std::string("certificate not trusted: ") + X509_verify_cert_error_string(v) +
                                    " (TLS_TRUSTCERTS" + (s.tls_trustcerts.empty() ? "" : "=" + s.tls_trustcerts) +
                                    ", name " + target.host + ")");
      return ok.error();
    }
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
      return lib::temporary_error("socketpair: " + lib::errno_text(errno));
    pid_t pid = ::fork();
    if (pid < 0) return lib::temporary_error("fork: " + lib::errno_text(errno));
    if (pid == 0) {
      ::close(sp[0]);
      ::signal(SIGPIPE, SIG_IGN);
      auto r = tls::relay(ssl, sock.get(), sp[1], sp[1]);
      ::_exit(r ? 0 : 1);
    }
    ::close(sp[1]);
    relay_pid = pid;
    plain.reset(sp[0]);
    sock.reset();
    attach(plain.get());
    return {};
  }
};

bool notify_has(const std::string& notify, const char* word) {
  return lib::ascii::to_lower(notify).find(word) != std::string::npos;
}

}  // namespace

std::vector<RemoteResult> deliver_remote(const Settings& s, const QueuedMessage& msg, const std::string& data,
                                         const std::string& domain, const std::vector<int>& rcpts) {
  std::vector<RemoteResult> results;
  auto all = [&](char outcome, const std::string& status, const std::string& relay, const std::string& text) {
    std::vector<RemoteResult> r;
    for (int i : rcpts) r.push_back({i, outcome, status, relay, text});
    return r;
  };
  std::optional<Route> route = find_route(s.routes, domain);
  DnsOptions dns;
  dns.server = s.dns_server;
  auto targets = find_targets(domain, route, dns);
  if (!targets) {
    bool perm = !targets.error().temporary();
    return all(perm ? 'f' : 'y', perm ? "5.1.2" : "4.4.3", "-", targets.error().message);
  }
  std::string last_error = "no mail server could be reached";
  std::string last_relay = "-";
  for (const auto& t : *targets) {
    MxTarget target = t;
    std::string relay_name = target.host + " [" + target.ip + "]";
    auto fd = connect_to(target, s.timeout_connect);
    if (!fd) {
      last_error = "cannot connect to " + relay_name + ":" + std::to_string(target.port) + ": " + fd.error().message;
      last_relay = relay_name;
      continue;
    }
    Session ss(s, target, std::move(*fd));
    last_relay = ss.relay();
    bool smtps = route && route->security == RouteSecurity::smtps;
    if (smtps) {  // implicit TLS (RFC 8314), before the greeting
      if (auto ok = ss.start_tls(s.tls_verify_domain); !ok) {
        last_error = "TLS with " + relay_name + " failed: " + ok.error().message;
        continue;
      }
    }
    auto greeting = ss.read_reply(s.timeout_helo);
    if (!greeting) {
      last_error = ss.error;
      continue;
    }
    if (!greeting->positive()) {
      last_error = relay_name + " refused the connection: " + greeting->text();
      (void)ss.command("QUIT", s.timeout_quit);
      continue;
    }
    auto ehlo = ss.command("EHLO " + s.esmtphelo, s.timeout_helo);
    if (!ehlo) {
      last_error = ss.error;
      continue;
    }
    EhloCapabilities caps;
    if (ehlo->positive()) {
      caps = parse_ehlo(*ehlo);
    } else {
      auto helo = ss.command("HELO " + s.esmtphelo, s.timeout_helo);
      if (!helo || !helo->positive()) {
        last_error = helo ? relay_name + " refused HELO: " + helo->text() : ss.error;
        continue;
      }
    }
    bool want_tls = route && (route->security == RouteSecurity::starttls || route->security == RouteSecurity::required);
    bool verify = s.tls_verify_domain || (route && route->security == RouteSecurity::required);
    want_tls = want_tls || verify;
    std::string tls_rule = route && route->security != RouteSecurity::none ? route->origin + " (/SECURITY)"
                                                                            : std::string("ESMTP_TLS_VERIFY_DOMAIN");
    if (smtps) {
      // Already encrypted.
    } else if (caps.starttls && (s.use_starttls || want_tls)) {
      auto r = ss.command("STARTTLS", s.timeout_helo);
      if (!r) {
        last_error = ss.error;
        continue;
      }
      if (r->code == 220) {
        if (auto ok = ss.start_tls(verify); !ok) {
          last_error = "TLS with " + relay_name + " failed: " + ok.error().message;
          continue;
        }
        ehlo = ss.command("EHLO " + s.esmtphelo, s.timeout_helo);
        if (!ehlo || !ehlo->positive()) {
          last_error = ehlo ? relay_name + " refused EHLO after STARTTLS: " + ehlo->text() : ss.error;
          continue;
        }
        caps = parse_ehlo(*ehlo);
      } else if (want_tls) {
        last_error = relay_name + " refused STARTTLS (" + r->text() + "), which " + tls_rule + " requires";
        continue;
      }
    } else if (want_tls) {
      last_error = relay_name + " does not offer STARTTLS, which " + tls_rule + " requires";
      continue;
    }
    // AUTH to a smarthost: esmtpauthclient names the relay as esmtproutes does.
    if (route && !route->relay.empty()) {
      std::string key = route->literal ? "[" + route->relay + "]" : route->relay;
      for (const auto& a : s.auth_client) {
        if (a.relay != key && a.relay != route->relay) continue;
        std::string plain;
        plain += '\0';
        plain += a.user;
        plain += '\0';
        plain += a.password;
        static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string enc;
        for (size_t i = 0; i < plain.size(); i += 3) {
          unsigned v = static_cast<unsigned char>(plain[i]) << 16;
          if (i + 1 < plain.size()) v |= static_cast<unsigned char>(plain[i + 1]) << 8;
          if (i + 2 < plain.size()) v |= static_cast<unsigned char>(plain[i + 2]);
          enc += b64[(v >> 18) & 63];
          enc += b64[(v >> 12) & 63];
          enc += i + 1 < plain.size() ? b64[(v >> 6) & 63] : '=';
          enc += i + 2 < plain.size() ? b64[v & 63] : '=';
        }
        auto r = ss.command("AUTH PLAIN " + enc, s.timeout);
        if (!r) {
          last_error = ss.error;
          break;
        }
        if (!r->positive())
          return all('y', "4.7.0", relay_name,
                     "authentication as " + a.user + " to " + relay_name + " failed: " + r->text() +
                         " (check " + s.sysconfdir + "/esmtpauthclient)");
        break;
      }
    }
    // The message, downgraded if the server lacks 8BITMIME.
    const std::string* body = &data;
    std::string converted;
    bool eight = msg.body_type == "8BITMIME" || has_8bit(data);
    if (eight && !caps.eightbitmime) {
      auto d = downgrade_8bit(data);
      if (!d)
        return all('f', "5.6.3", relay_name,
                   relay_name + " does not support 8BITMIME and this multipart 8-bit message cannot be converted");
      converted = std::move(*d);
      body = &converted;
    }
    std::string mail = "MAIL FROM:<" + msg.sender + ">";
    if (eight && caps.eightbitmime) mail += " BODY=8BITMIME";
    if (caps.size) mail += " SIZE=" + std::to_string(body->size());
    if (caps.dsn) {
      if (!msg.ret.empty()) mail += " RET=" + msg.ret;
      if (!msg.envid.empty()) mail += " ENVID=" + xtext(msg.envid);
    }
    if (msg.smtputf8 && caps.smtputf8) mail += " SMTPUTF8";
    auto mr = ss.command(mail, s.timeout);
    if (!mr) {
      last_error = ss.error;
      continue;
    }
    if (!mr->positive()) {
      (void)ss.command("QUIT", s.timeout_quit);
      return all(mr->permanent() ? 'f' : 'y', mr->status(), relay_name, "smtp; " + mr->text() + " (MAIL FROM)");
    }
    std::vector<RemoteResult> out;
    std::vector<int> accepted;
    bool lost = false;
    for (int i : rcpts) {
      const auto& r = msg.rcpts[static_cast<size_t>(i)];
      std::string cmd = "RCPT TO:<" + r.address + ">";
      if (caps.dsn) {
        if (!r.notify.empty()) cmd += " NOTIFY=" + r.notify;
        if (!r.orcpt.empty()) {
          auto semi = r.orcpt.find(';');
          if (semi != std::string::npos) cmd += " ORCPT=" + r.orcpt.substr(0, semi) + ";" + xtext(r.orcpt.substr(semi + 1));
        }
      }
      auto rr = ss.command(cmd, s.timeout);
      if (!rr) {
        lost = true;
        break;
      }
      if (rr->positive()) {
        accepted.push_back(i);
      } else {
        out.push_back({i, rr->permanent() ? 'f' : 'y', rr->status(), relay_name, "smtp; " + rr->text()});
      }
    }
    if (lost) {
      last_error = ss.error;
      continue;
    }
    if (accepted.empty()) {
      (void)ss.command("QUIT", s.timeout_quit);
      return out;
    }
    auto dr = ss.command("DATA", s.timeout);
    if (!dr) {
      last_error = ss.error;
      continue;
    }
    if (dr->code != 354) {
      (void)ss.command("QUIT", s.timeout_quit);
      for (int i : accepted)
        out.push_back({i, dr->permanent() ? 'f' : 'y', dr->status(), relay_name, "smtp; " + dr->text() + " (DATA)"});
      return out;
    }
    ss.out->set_write_timeout_ms(ms(s.timeout_data));
    ss.out->append_dot_stuffed(*body, true);
    if (auto ok = ss.out->flush(); !ok) {
      last_error = "sending the message to " + relay_name + ": " + ok.error().message;
      continue;
    }
    auto end = ss.read_reply(s.timeout_data);
    if (!end) {
      // The server may or may not have taken it: retrying may deliver twice, never lose.
      last_error = ss.error + " (after the message was sent)";
      continue;
    }
    (void)ss.command("QUIT", s.timeout_quit);
    for (int i : accepted) {
      const auto& r = msg.rcpts[static_cast<size_t>(i)];
      char o = end->positive() ? ((!caps.dsn && notify_has(r.notify, "success")) ? 'r' : 'd')
                               : end->permanent() ? 'f' : 'y';
      out.push_back({i, o, end->status(), relay_name, "smtp; " + end->text()});
    }
    return out;
  }
  return all('y', "4.4.1", last_relay, last_error);
}

}  // namespace courierd
