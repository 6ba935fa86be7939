// courierd/local_delivery.cpp: see local_delivery.hpp.
#include "courierd/local_delivery.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <string_view>
#include <vector>

#include "authlib/client.hpp"
#include "courierd/queue_access.hpp"
#include "courierd/text.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/process.hpp"
#include "lib/rfc5322.hpp"
#include "lib/unique_fd.hpp"

namespace courierd {

namespace {

bool parse_u64(std::string_view s, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool valid_qid(std::string_view qid) {
  if (qid.empty() || qid.size() > 64 || qid[0] == '.') return false;
  for (char c : qid)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.')) return false;
  return true;
}

}  // namespace

std::string encode(const LocalRequest& r) {
  return std::to_string(r.job) + "\t" + field(r.qid) + "\t" + std::to_string(r.rcpt) + "\t" + field(r.recipient) +
         "\t" + field(r.account_key) + "\t" + field(r.sender);
}

std::optional<LocalRequest> decode_request(std::string_view packet) {
  auto f = split_tabs(packet);
  if (f.size() != 6) return std::nullopt;
  LocalRequest r;
  std::uint64_t rcpt = 0;
  if (!parse_u64(f[0], r.job) || !parse_u64(f[2], rcpt) || rcpt > 1000000) return std::nullopt;
  r.qid = f[1];
  r.rcpt = static_cast<int>(rcpt);
  r.recipient = f[3];
  r.account_key = f[4];
  r.sender = f[5];
  return r;
}

std::string encode(const LocalReply& r) {
  char o = r.outcome == Outcome::delivered ? 'd'
           : r.outcome == Outcome::failed  ? 'f'
           : r.outcome == Outcome::forward ? 'w'
                                           : 'y';
  return std::to_string(r.job) + "\t" + o + "\t" + field(r.status) + "\t" + field(r.text);
}

std::optional<LocalReply> decode_reply(std::string_view packet) {
  auto f = split_tabs(packet);
  if (f.size() != 4 || f[1].size() != 1) return std::nullopt;
  LocalReply r;
  if (!parse_u64(f[0], r.job)) return std::nullopt;
  switch (f[1][0]) {
    case 'd': r.outcome = Outcome::delivered; break;
    case 'f': r.outcome = Outcome::failed; break;
    case 'y': r.outcome = Outcome::deferred; break;
    case 'w': r.outcome = Outcome::forward; break;
    default: return std::nullopt;
  }
  r.status = f[2];
  r.text = f[3];
  return r;
}

CommandVerdict command_verdict(int code) {
  switch (code) {
    case 0: return CommandVerdict::next;
    case 99: return CommandVerdict::stop;
    case 64: case 65: case 67: case 68: case 69: case 70: case 76: case 77: case 78: case 100: case 112:
      return CommandVerdict::permanent;
    default: return CommandVerdict::temporary;
  }
}

namespace {

struct Job {
  const LocalRequest& req;
  const Settings& settings;
  authlib::Account account;
  std::string login;
  std::string ext;
  int data_fd = -1;
  std::string delivered_to;
  std::string default_part;  // DEFAULT: what a .courier-*-default file matched
  std::vector<std::string> forwards;  // addresses from forwarding lines
};

LocalReply reply(const LocalRequest& req, Outcome o, std::string status, std::string text) {
  return LocalReply{req.job, o, std::move(status), std::move(text)};
}

// Reads a child's output (stderr and stdout) until EOF or the deadline.
std::string read_output(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string out;
  char buf[4096];
  while (out.size() < 65536) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

std::string first_line(std::string_view text) {
  text = std::string_view(text).substr(0, text.find('\n'));
  std::string t = trim(text);
  if (t.size() > 400) t = t.substr(0, 400) + "...";
  return t;
}

// Returns nullopt to go on with the next instruction, or the final reply.
std::optional<LocalReply> run_command(Job& job, const std::string& command) {
  const auto& req = job.req;
  std::string host = job.req.recipient.find('@') != std::string::npos
                         ? job.req.recipient.substr(job.req.recipient.rfind('@') + 1)
                         : job.settings.me;
  std::string local = job.req.recipient.substr(0, job.req.recipient.rfind('@'));
  std::string rpline = "Return-Path: <" + req.sender + ">";
  std::string dtline = "Delivered-To: " + job.delivered_to;
  lib::SpawnOptions so;
  if (command == job.settings.maildrop) {
    so.argv = {command, "-d", job.login, "-f", req.sender, "-A", dtline, "-A", rpline};
  } else {
    so.argv = {"/bin/sh", "-c", command};
  }
  so.env = {"HOME=" + job.account.home,
            "USER=" + job.login,
            "SENDER=" + req.sender,
            "RECIPIENT=" + job.delivered_to,
            "EXT=" + job.ext,
            "HOST=" + host,
            "LOCAL=" + local,
            "DEFAULT=" + job.default_part,
            "DTLINE=" + dtline,
            "RPLINE=" + rpline,
            "UFLINE=From " + (req.sender.empty() ? std::string("MAILER-DAEMON") : req.sender) + " " +
                std::to_string(std::time(nullptr)),
            "MAILDROPDEFAULT=./Maildir",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "SHELL=/bin/sh"};
  if (const char* sock = std::getenv("AUTHDAEMON_SOCKET")) so.env.push_back(std::string("AUTHDAEMON_SOCKET=") + sock);
  if (::lseek(job.data_fd, 0, SEEK_SET) < 0)
    return reply(req, Outcome::deferred, "4.3.0", "cannot rewind the queued message: " + lib::errno_text(errno));
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    return reply(req, Outcome::deferred, "4.3.0", "pipe: " + lib::errno_text(errno));
  lib::UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  so.stdin_fd = job.data_fd;
  so.stdout_fd = wr.get();
  so.stderr_fd = wr.get();
  so.new_process_group = true;
  auto child = lib::ChildProcess::spawn(so);
  if (!child)
    return reply(req, Outcome::deferred, "4.3.0", "cannot run \"" + command + "\": " + child.error().message);
  wr.reset();
  auto deadline = std::chrono::steady_clock::now() + job.settings.local_timeout;
  std::string output = read_output(rd.get(), deadline);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  auto status = child->wait_for(std::max(left, std::chrono::milliseconds(1)));
  if (!status) {
    child->terminate(std::chrono::milliseconds(2000));
    return reply(req, Outcome::deferred, "4.3.0",
                 "\"" + command + "\" did not finish within localtimeout (" +
                     std::to_string(job.settings.local_timeout.count()) + "s); killed");
  }
  std::string why = first_line(output);
  if (!status->exited)
    return reply(req, Outcome::deferred, "4.3.0", "\"" + command + "\" " + status->describe() +
                                                      (why.empty() ? "" : ": " + why));
  switch (command_verdict(status->code)) {
    case CommandVerdict::next: return std::nullopt;
    case CommandVerdict::stop: return reply(req, Outcome::delivered, "2.0.0", "delivered by \"" + command + "\"");
    case CommandVerdict::permanent:
      return reply(req, Outcome::failed, "5.3.0",
                   (why.empty() ? "\"" + command + "\" failed" : why) + " (exit " + std::to_string(status->code) + ")");
    case CommandVerdict::temporary:
      return reply(req, Outcome::deferred, "4.3.0",
                   (why.empty() ? "\"" + command + "\" failed" : why) + " (exit " + std::to_string(status->code) +
                       ", will retry)");
  }
  return std::nullopt;
}

std::optional<LocalReply> deliver_maildir(Job& job, std::string path) {
  const auto& req = job.req;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    if (errno == ENOENT || (::stat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)))
      return reply(req, Outcome::deferred, "4.2.0",
                   "maildir " + path + " of " + job.login + " (home " + job.account.home + ", uid " +
                       std::to_string(::geteuid()) + ") does not exist: create it with maildirmake " + path +
                       " as that account (mbox files are not supported)");
    return reply(req, Outcome::deferred, "4.2.0", "maildir " + path + ": " + lib::errno_text(errno));
  }
  // user+folder: into the folder when the account has it (Maildir++ ".folder").
  std::string target = path;
  if (!job.ext.empty() && job.ext.find('/') == std::string::npos && job.ext[0] != '.') {
    std::string folder = path + "/." + job.ext;
    if (::stat(folder.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) target = folder;
  }
  std::string message = "Return-Path: <" + req.sender + ">\nDelivered-To: " + job.delivered_to + "\n";
  if (::lseek(job.data_fd, 0, SEEK_SET) < 0)
    return reply(req, Outcome::deferred, "4.3.0", "cannot rewind the queued message: " + lib::errno_text(errno));
  char buf[65536];
  while (true) {
    ssize_t n = ::read(job.data_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return reply(req, Outcome::deferred, "4.3.0", "reading the queued message: " + lib::errno_text(errno));
    if (n == 0) break;
    message.append(buf, static_cast<size_t>(n));
  }
  auto done = lib::maildir::deliver(target, message);
  if (!done) {
    return reply(req, done.error().temporary() ? Outcome::deferred : Outcome::failed,
                 done.error().temporary() ? "4.2.0" : "5.2.0", done.error().message);
  }
  (void)done;
  return std::nullopt;
}

// Whether the message's header has "Delivered-To: address" (any case).
bool already_delivered_to(int fd, const std::string& address) {
  std::string head(64 * 1024, '\0');
  ssize_t n = ::pread(fd, head.data(), head.size(), 0);
  if (n <= 0) return false;
  head.resize(static_cast<size_t>(n));
  auto header = lib::rfc5322::parse_header(head);
  for (const auto* f : header.find_all("Delivered-To"))
    if (lib::rfc5322::iequals(f->value(), address)) return true;
  return false;
}

// The dot-courier file for the recipient's extension: ".courier" without one; else
// ".courier-ext", then ".courier-<prefix>-default" (longest prefix first), then
// ".courier-default" (defaultsep characters count as '-', '.' becomes ':').
// nullopt when there is none: then DEFAULTDELIVERY applies (for an extension too, so
// user+folder reaches the INBOX when no file claims it; Courier would bounce it).
struct DotCourier {
  std::string name;
  std::string text;
  std::string default_part;
};
lib::Result<std::optional<DotCourier>> find_dot_courier(const Job& job, const std::string& defaultsep) {
  std::string ext = job.ext;
  for (char& c : ext) {
    if (defaultsep.find(c) != std::string::npos) c = '-';
    if (c == '.') c = ':';
    if (c == '/') return std::optional<DotCourier>{};  // never a path
  }
  std::vector<std::pair<std::string, std::string>> candidates;  // name, DEFAULT
  if (ext.empty()) {
    candidates.push_back({".courier", ""});
  } else {
    candidates.push_back({".courier-" + ext, ""});
    for (size_t pos = ext.rfind('-'); pos != std::string::npos && pos > 0; pos = ext.rfind('-', pos - 1))
      candidates.push_back({".courier-" + ext.substr(0, pos) + "-default", ext.substr(pos + 1)});
    candidates.push_back({".courier-default", ext});
  }
  for (const auto& [name, def] : candidates) {
    int open_errno = 0;
    std::string path = job.account.home + "/" + name;
    auto text = lib::read_small_file(path, 64 * 1024, &open_errno);
    if (text) return std::optional<DotCourier>{DotCourier{name, std::move(*text), def}};
    if (open_errno != ENOENT) return lib::temporary_error(text.error().message);
  }
  return std::optional<DotCourier>{};
}

// Runs dot-courier instructions: one per line, '#' comments, '\' continues a line.
LocalReply run_instructions(Job& job, const std::string& text, const std::string& source) {
  const auto& req = job.req;
  std::vector<std::string> lines;
  std::string pending;
  for_each_line(text, [&](std::string_view raw, int) {
    std::string line = trim(raw);
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1);
      return;
    }
    lines.push_back(pending + line);
    pending.clear();
  });
  if (!pending.empty()) lines.push_back(pending);
  bool did_something = false;
  for (const auto& line : lines) {
    if (line.empty() || line[0] == '#') continue;
    std::optional<LocalReply> r;
    if (line[0] == '|') {
      if (line.size() > 1 && line[1] == '|')
        return reply(req, Outcome::deferred, "4.3.0",
                     source + ": \"||\" dynamic deliveries are not supported; use \"|\"");
      r = run_command(job, trim(std::string_view(line).substr(1)));
    } else if (line[0] == '.' || line[0] == '/') {
      // The default mailbox is where imapd and pop3d look: the account's MAILDIR
      // (userdb mail=, LDAP_MAILDIR...) when it has one, else ./Maildir.
      bool default_mailbox = line == "./Maildir" || line == "./Maildir/";
      r = deliver_maildir(job, default_mailbox && !job.account.maildir.empty() ? job.account.maildir : line);
    } else {
      // Forwarding: comma-separated addresses; a leading '&' or '!' is ignored.
      std::string_view rest = line;
      if (rest[0] == '&' || rest[0] == '!') rest.remove_prefix(1);
      for (size_t pos = 0; pos <= rest.size();) {
        auto comma = rest.find(',', pos);
        std::string addr = trim(rest.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
        if (addr.size() > 1 && addr.front() == '<' && addr.back() == '>') addr = addr.substr(1, addr.size() - 2);
        if (!addr.empty()) {
          if (addr.find_first_of(" \t<>\"") != std::string::npos || addr.size() > 254)
            return reply(req, Outcome::deferred, "4.3.0", source + ": \"" + addr + "\" is not an address to forward to");
          job.forwards.push_back(addr);
        }
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
      }
    }
    if (r) return *r;
    did_something = true;
  }
  if (!job.forwards.empty()) {
    std::string list;
    for (const auto& a : job.forwards) list += (list.empty() ? "" : ",") + a;
    return reply(req, Outcome::forward, "2.1.5", list);
  }
  if (!did_something) return reply(req, Outcome::delivered, "2.0.0", source + " has no instructions: message discarded");
  return reply(req, Outcome::delivered, "2.0.0", source == "DEFAULTDELIVERY" ? "delivered" : "delivered by " + source);
}

}  // namespace

LocalReply deliver_locally(const LocalRequest& req, const Settings& settings) {
  if (!valid_qid(req.qid)) return reply(req, Outcome::deferred, "4.3.0", "malformed queue id from the scheduler");
  if (auto ok = check_delivery_program(settings); !ok) return reply(req, Outcome::deferred, "4.3.0", ok.error().message);
  lib::UniqueFd data(::open(data_path(settings.queuedir, req.qid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!data)
    return reply(req, Outcome::deferred, "4.3.0",
                 "cannot open " + data_path(settings.queuedir, req.qid) + ": " + lib::errno_text(errno));
  // The account: authdaemond's answer, never the scheduler's.
  authlib::ClientOptions opts;
  std::optional<authlib::Account> account;
  AccountCandidate found;
  for (const auto& cand : account_candidates(req.account_key, settings.defaultsep)) {
    auto res = authlib::lookup_account(opts, "courier", cand.login);
    if (res.status == authlib::AuthStatus::temporary)
      return reply(req, Outcome::deferred, "4.3.0", "looking up " + cand.login + ": " + res.error);
    if (res.status == authlib::AuthStatus::ok) {
      account = std::move(res.account);
      found = cand;
      break;
    }
  }
  if (!account) return reply(req, Outcome::failed, "5.1.1", "no such account: " + req.account_key);
  uid_t uid = 0;
  if (account->uid) {
    uid = *account->uid;
  } else {
    struct passwd* pw = ::getpwnam(account->username.c_str());
    if (!pw)
      return reply(req, Outcome::deferred, "4.3.0",
                   "account " + found.login + " names system user " + account->username + ", which does not exist");
    uid = pw->pw_uid;
    if (account->gid == 0) account->gid = pw->pw_gid;
  }
  if (uid == 0 || account->gid == 0)
    return reply(req, Outcome::deferred, "4.7.0",
                 "account " + found.login + " maps to uid " + std::to_string(uid) + " gid " +
                     std::to_string(account->gid) + ": mail is never delivered as root; give it its own uid/gid");
  if (auto became = authlib::become_account(*account, found.login); !became) {
    // Seed 002: one line with the home, the uid, the errno text and the fix.
    struct stat hs{};
    const std::string& home = account->home;
    std::string ids = std::to_string(uid) + ":" + std::to_string(account->gid);
    if (!home.empty() && ::stat(home.c_str(), &hs) != 0) {
      int err = errno;
      return reply(req, Outcome::deferred, "4.2.0",
                   "cannot enter home directory " + home + " of " + found.login + " (uid " + std::to_string(uid) +
                       "): " + lib::errno_text(err) + "; " +
                       (err == ENOENT ? "create it: mkdir -p " + home + " && chown " + ids + " " + home +
                                            " && maildirmake " + home + "/Maildir (as uid " + std::to_string(uid) + ")"
                                      : "give uid " + std::to_string(uid) + " access to it") +
                       ", or correct the account's home= in userdb");
    }
    return reply(req, Outcome::deferred, "4.2.0",
                 became.error().message + " (uid " + std::to_string(uid) +
                     "; create the home directory, owned by that uid, or correct the account's home)");
  }
  Job job{req, settings, *account, found.login, found.ext, data.get(), {}, {}, {}};
  job.delivered_to = req.recipient.find('@') == std::string::npos ? req.recipient + "@" + settings.me : req.recipient;
  // A message that already went through this address is looping (forwarding chains).
  if (auto looped = already_delivered_to(data.get(), job.delivered_to); looped)
    return reply(req, Outcome::failed, "5.4.6",
                 "mail loop: the message already carries \"Delivered-To: " + job.delivered_to + "\"");
  // dot-courier (COURIER-COMPAT.md section 9): $HOME/.courier[-ext] when the account
  // has one, else DEFAULTDELIVERY.
  std::string source = "DEFAULTDELIVERY";
  std::string instructions = settings.default_delivery;
  auto dot = find_dot_courier(job, settings.defaultsep);
  if (!dot) return reply(req, Outcome::deferred, "4.3.0", dot.error().message);
  if (*dot) {
    job.default_part = (*dot)->default_part;
    if (!trim((*dot)->text).empty()) {
      source = job.account.home + "/" + (*dot)->name;
      instructions = (*dot)->text;
    }
  }
  return run_instructions(job, instructions, source);
}

int run_delivery_helper(int sock, const Settings& settings) {
  ::signal(SIGCHLD, SIG_IGN);  // children are reaped by the kernel
  std::vector<char> buf(65536);
  while (true) {
    ssize_t n = ::recv(sock, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    auto req = decode_request(std::string_view(buf.data(), static_cast<size_t>(n)));
    if (!req) {
      lib::log::error("delivery helper: malformed request from the scheduler (ignored)");
      continue;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      auto r = reply(*req, Outcome::deferred, "4.3.0", "fork: " + lib::errno_text(errno));
      std::string p = encode(r);
      ::send(sock, p.data(), p.size(), MSG_NOSIGNAL);
      continue;
    }
    if (pid == 0) {
      ::signal(SIGCHLD, SIG_DFL);
      ::signal(SIGPIPE, SIG_IGN);
      LocalReply r = deliver_locally(*req, settings);
      std::string p = encode(r);
      ::send(sock, p.data(), p.size(), MSG_NOSIGNAL);
      ::_exit(0);
    }
  }
}

}  // namespace courierd
