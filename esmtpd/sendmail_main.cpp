// sendmail: local mail submission into the queue, through lib/queue like esmtpd.
//   sendmail [-t] [-f sender] [-F fullname] [-i] [-oi] [-N dsn] [-R ret] [-V envid] [addr...]
//   sendmail -bs      an SMTP session on stdin/stdout (esmtpd's session code)
//   sendmail -bp      list the queue (mailq)
//   sendmail -bm      submit (the default)
// Privileges: installed setgid to the mail group (make install does it when it
// can), so that any local user can write the queue's tmp/ and msgs/ (mode 0770,
// group MAILGROUP); COURIER_QUEUEDIR is ignored when running setgid. See sendmail(1).
#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "esmtpd/command.hpp"
#include "esmtpd/mailq.hpp"
#include "esmtpd/policy.hpp"
#include "esmtpd/session.hpp"
#include "lib/log.hpp"
#include "lib/queue.hpp"
#include "lib/rfc5322.hpp"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc/courier"
#endif

namespace {

constexpr int ex_usage = 64, ex_dataerr = 65, ex_tempfail = 75;

std::string queue_dir() {
  if (::getegid() != ::getgid() || ::geteuid() != ::getuid()) {
    ::unsetenv("COURIER_QUEUEDIR");  // a user must not point a privileged program elsewhere
    ::unsetenv("COURIER_SYSCONFDIR");
  }
  return lib::queue::queue_dir();
}

std::string sysconfdir() {
  const char* e = std::getenv("COURIER_SYSCONFDIR");
  return e && *e ? e : SYSCONFDIR;
}

// Addresses of a To/Cc/Bcc value: what is inside <>, else the comma-separated words.
void addresses_of(const std::string& value, std::vector<std::string>& out) {
  std::size_t i = 0;
  while (i < value.size()) {
    auto comma = value.find(',', i);
    std::string part = value.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    i = comma == std::string::npos ? value.size() : comma + 1;
    auto lt = part.find('<'), gt = part.rfind('>');
    std::string a = lt != std::string::npos && gt > lt ? part.substr(lt + 1, gt - lt - 1) : part;
    auto paren = a.find('(');
    if (paren != std::string::npos) a = a.substr(0, paren);
    while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.erase(0, 1);
    while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.pop_back();
    if (!a.empty() && a.find(':') == std::string::npos) out.push_back(a);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool from_headers = false, smtp = false, list = false, sender_given = false;
  std::string sender, fullname;
  std::optional<std::string> envid, ret;
  std::string notify;
  std::vector<std::string> rcpts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::size_t skip) -> std::optional<std::string> {
      if (a.size() > skip) return a.substr(skip);
      if (i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    if (a == "--") {
      for (++i; i < argc; ++i) rcpts.push_back(argv[i]);
      break;
    }
    if (a.empty() || a[0] != '-') {
      rcpts.push_back(a);
    } else if (a == "-t") {
      from_headers = true;
    } else if (a == "-i" || a == "-oi" || a == "-bm" || a.rfind("-o", 0) == 0 || a == "-q" || a == "-n") {
      // Courier's sendmail always behaves as with -oi; other -o options are ignored.
    } else if (a == "-bs") {
      smtp = true;
    } else if (a == "-bp") {
      list = true;
    } else if (a.rfind("-f", 0) == 0 || a.rfind("-r", 0) == 0) {
      auto v = value(2);
      if (!v) return std::fprintf(stderr, "sendmail: -f needs an address\n"), ex_usage;
      sender = *v;
      sender_given = true;
      if (sender == "<>") sender.clear();
    } else if (a.rfind("-F", 0) == 0) {
      auto v = value(2);
      if (!v) return std::fprintf(stderr, "sendmail: -F needs a name\n"), ex_usage;
      fullname = *v;
    } else if (a.rfind("-N", 0) == 0) {
      auto v = value(2);
      if (!v) return ex_usage;
      notify = *v;
      for (char& c : notify) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (notify == "FAIL") notify = "FAILURE";
    } else if (a.rfind("-R", 0) == 0) {
      auto v = value(2);
      if (!v) return ex_usage;
      std::string r = *v;
      for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      ret = r;
    } else if (a.rfind("-V", 0) == 0) {
      auto v = value(2);
      if (!v) return ex_usage;
      envid = *v;
    } else if (a == "--help") {
      std::puts("usage: sendmail [-t] [-f sender] [-F name] [-i] [-N dsn] [-R full|hdrs] [-V envid] [address...]\n"
                "       sendmail -bs | -bp");
      return 0;
    } else {
      std::fprintf(stderr, "sendmail: unknown option %s (see sendmail(1))\n", a.c_str());
      return ex_usage;
    }
  }
  std::string dir = queue_dir();
  if (list) return esmtpd::print_queue(dir, false, stdout, stderr);

  struct passwd* pw = ::getpwuid(::getuid());
  std::string login = pw ? pw->pw_name : std::to_string(::getuid());
  std::string me = esmtpd::read_me(sysconfdir());

  if (smtp) {
    lib::log::Options o;
    o.target = lib::log::Target::syslog;
    lib::log::open("sendmail", o);
    ::setenv("TCPREMOTEIP", "127.0.0.1", 1);
    ::setenv("TCPREMOTEHOST", ("local uid " + std::to_string(::getuid())).c_str(), 1);
    ::setenv("RELAYCLIENT", "", 1);
    auto settings = esmtpd::Settings::from_environment();
    if (!settings) return std::fprintf(stderr, "sendmail: %s\n", settings.error().message.c_str()), ex_tempfail;
    settings->queuedir = dir;
    auto domains = esmtpd::Domains::load(settings->sysconfdir);
    if (!domains) return std::fprintf(stderr, "sendmail: %s\n", domains.error().message.c_str()), ex_tempfail;
    esmtpd::RecipientPolicy policy(std::move(*domains), nullptr, settings->authdaemon_socket);
    esmtpd::Session session(std::move(*settings), std::move(policy));
    return session.run();
  }

  // Read the message: bytes as given, CRLF made LF.
  std::string message;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) message.append(buf, n);
  if (std::ferror(stdin)) return std::fprintf(stderr, "sendmail: cannot read the message from stdin\n"), ex_dataerr;
  std::string lf;
  lf.reserve(message.size());
  for (std::size_t i = 0; i < message.size(); ++i)
    if (!(message[i] == '\r' && i + 1 < message.size() && message[i + 1] == '\n')) lf.push_back(message[i]);
  message.swap(lf);

  auto header = lib::rfc5322::parse_header(message);
  std::string prefix;
  if (from_headers) {
    for (const char* name : {"To", "Cc", "Bcc"})
      for (const auto* f : header.find_all(name)) addresses_of(f->value(), rcpts);
    // Bcc is removed from the message.
    std::string without;
    std::size_t pos = 0;
    for (const auto* f : header.find_all("Bcc")) {
      without.append(message, pos, f->offset - pos);
      pos = f->offset + f->size;
    }
    without.append(message, pos, std::string::npos);
    message.swap(without);
  }
  if (rcpts.empty()) return std::fprintf(stderr, "sendmail: no recipients (give addresses, or -t to read To/Cc/Bcc)\n"), ex_usage;
  if (!sender_given) sender = login + "@" + me;
  if (!header.find("From")) {
    std::string name = fullname.empty() ? (pw && pw->pw_gecos ? std::string(pw->pw_gecos) : std::string()) : fullname;
    auto comma = name.find(',');
    if (comma != std::string::npos) name = name.substr(0, comma);
    prefix += "From: " + (name.empty() ? "" : "\"" + name + "\" ") + "<" + (sender.empty() ? login + "@" + me : sender) + ">\n";
  }
  if (!header.find("Date")) {
    char date[64];
    std::time_t t = std::time(nullptr);
    struct tm tm;
    ::localtime_r(&t, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
    prefix += std::string("Date: ") + date + "\n";
  }

  lib::queue::Envelope e;
  e.accepted = std::time(nullptr);
  e.sender = sender;
  e.client = "local uid " + std::to_string(::getuid()) + " (" + login + ")";
  e.protocol = "LOCAL";
  e.body = "8BITMIME";
  e.envid = envid;
  if (ret && *ret != "FULL" && *ret != "HDRS") return std::fprintf(stderr, "sendmail: -R must be full or hdrs\n"), ex_usage;
  e.ret = ret;
  for (auto& r : rcpts) {
    if (r.find('@') == std::string::npos) r += "@" + me;
    if (!esmtpd::valid_mailbox(r, true))
      return std::fprintf(stderr, "sendmail: '%s' is not a valid address\n", r.c_str()), ex_dataerr;
    e.recipients.push_back({r, "", notify});
  }
  if (auto r = lib::queue::ensure_layout(dir); !r)
    return std::fprintf(stderr, "sendmail: %s\n", r.error().message.c_str()), ex_tempfail;
  auto sub = lib::queue::Submission::begin(dir);
  if (!sub) return std::fprintf(stderr, "sendmail: %s\n", sub.error().message.c_str()), ex_tempfail;
  std::string received = "Received: from " + login + " by " + me + " with LOCAL; uid " + std::to_string(::getuid()) +
                         "\n  id " + sub->qid() + "\n";
  lib::Result<void> w = sub->write(received + prefix + message);
  if (w) w = sub->commit(e);
  if (!w) return std::fprintf(stderr, "sendmail: the message was not queued: %s\n", w.error().message.c_str()), ex_tempfail;
  if (lib::queue::poke_trigger(dir) == lib::queue::PokeResult::not_running)
    std::fprintf(stderr, "sendmail: warning: %s\n", lib::queue::not_running_message(dir).c_str());
  return 0;
}
