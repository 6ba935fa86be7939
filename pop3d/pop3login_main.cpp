// pop3login: the POP3 login program (RFC 1939 AUTHORIZATION state), run by
// couriertcpd for each connection with the socket on fds 0 and 1:
//
//   couriertcpd ... 110 pop3login /path/to/pop3d Maildir
//
// It greets the client, takes USER/PASS or AUTH, asks authdaemond, switches to
// the account (authlib::become_account: groups, gid, uid, chdir home) and
// executes pop3d with the account in its environment and the maildir
// (the account's MAILDIR, else the second argument) as its argument.
// `pop3login --check-config FILE...` checks configuration files for the start
// scripts (exit 0, warnings on stderr; exit 78 when a file cannot be used).
//
// SECURITY (DESIGN.md, Privileges): it forks at once
// (authlib/login_handover.hpp). The child drops to the mail user and reads the
// unauthenticated client (see login_session.hpp for the limits), STLS and
// SASL included; on success it hands authdaemond's login ticket and the
// pipelined bytes to the root parent, which reads nothing from the client:
// it redeems the ticket, becomes the account authdaemond names and execs pop3d.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "authlib/client.hpp"
#include "authlib/login_handover.hpp"
#include "lib/log.hpp"
#include "pop3d/login_session.hpp"
#include "pop3d/replies.hpp"
#include "pop3d/settings.hpp"
#include "pop3d/starttls.hpp"
#include "tls/starttls.hpp"

extern char** environ;

#ifndef LIBEXECDIR
#define LIBEXECDIR "/usr/libexec/courier-suite"
#endif

namespace {

void write_line(std::string_view text) {
  std::string line(text);
  line += "\r\n";
  // Best effort: the client may be gone already.
  ssize_t n = ::send(1, line.data(), line.size(), MSG_NOSIGNAL);
  if (n < 0 && errno == ENOTSOCK) n = ::write(1, line.data(), line.size());
  (void)n;
}

int check_config(int argc, char** argv) {
  std::vector<std::string> paths;
  for (int i = 2; i < argc; ++i) paths.emplace_back(argv[i]);
  if (paths.empty()) {
    std::fprintf(stderr, "usage: pop3login --check-config FILE...\n");
    return 64;
  }
  auto warnings = pop3d::check_config_files(paths);
  if (!warnings) {
    std::fprintf(stderr, "pop3login: %s\n", warnings.error().message.c_str());
    return 78;
  }
  for (const auto& w : *warnings) std::fprintf(stderr, "pop3login: WARN: %s\n", w.c_str());
  return 0;
}

// NAME=value entries of environ, with `set` entries replacing or adding.
std::vector<std::string> build_environment(const std::vector<std::string>& set) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& s : set)
      if (std::string_view(s).substr(0, s.find('=')) == name) replaced = true;
    // The login phase's own variables are not the session's business.
    if (name == "POP3_PIPELINED" || name == "POP3_LOGIN_METHOD") replaced = true;
    if (!replaced) env.emplace_back(entry);
  }
  env.insert(env.end(), set.begin(), set.end());
  return env;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--check-config") == 0) return check_config(argc, argv);

  // A TLS proxy may sit behind a pipe: a write to a vanished reader must be
  // an error, not a signal.
  ::signal(SIGPIPE, SIG_IGN);

  lib::Config env = pop3d::environment_config();
  // LOGFILE becomes our stderr, which pop3d inherits (settings.hpp).
  std::string log_file = env.get_string("LOGFILE", "");
  bool log_file_failed = false;
  int log_errno = 0;
  if (!log_file.empty()) {
    int fd = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::close(fd);
    } else {
      log_file_failed = true;
      log_errno = errno;
    }
  }
  lib::log::Options log_opts = pop3d::log_options(env);
  if (log_file_failed) log_opts.target = lib::log::Target::syslog;
  lib::log::open("pop3login", log_opts);
  if (log_file_failed)
    lib::log::error("cannot open LOGFILE=%s: %s; logging to %s (check the directory and its "
                    "permissions)", log_file.c_str(), lib::errno_text(log_errno).c_str(),
                    lib::log::current_target() == lib::log::Target::syslog ? "syslog" : "standard error");

  if (argc != 3) {
    lib::log::error("pop3login requires exactly two arguments: the pop3d program and the default "
                    "maildir (e.g. pop3login %s/pop3d Maildir); check the start script",
                    LIBEXECDIR);
    write_line("-ERR pop3login requires exactly two arguments.");
    return 1;
  }
  const std::string pop3d_program = argv[1];
  const std::string default_maildir = argv[2];

  std::vector<std::string> warnings;
  pop3d::LoginSettings settings = pop3d::load_login_settings(env, warnings);
  for (const auto& w : warnings) lib::log::debug_if("DEBUG_LOGIN", 1, "%s", w.c_str());

  auto split = authlib::login::split("pop3login");
  if (!split) {
    lib::log::error("%s", split.error().message.c_str());
    write_line(pop3d::reply::account_unusable);
    return 1;
  }
  if (split->child) {
    // The child: the whole dialogue, as the mail user.
    authlib::ClientOptions client;
    client.remote_ip = settings.peer.remote_ip;
    authlib::login::TicketingAuthenticator auth(client);
    pop3d::Sleeper sleeper = [](std::chrono::seconds s) { std::this_thread::sleep_for(s); };
    std::string external_field = settings.tls_external_field;
    // couriertls reads the keys as root: the parent starts it.
    auto spawn = tls::spawn_via([channel = split->channel.get()](int socket) {
      return authlib::login::request_starttls(channel, socket);
    });
    pop3d::LoginSession session(std::move(settings), auth, pop3d::make_tls_starter(external_field, spawn), sleeper);
    // Replies are written whole, one write per pipelined group: Nagle's
    // algorithm would only delay them.
    int one = 1;
    (void)::setsockopt(1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto success = session.run(0, 1);
    if (!success) return 0;
    if (auth.ticket().empty()) {
      lib::log::error("LOGIN FAILED, user=%s: authdaemond sent no login ticket with the account (an authdaemond "
                      "older than this pop3login? restart it from the same installation)", success->login.c_str());
      write_line(pop3d::reply::account_unusable);
      return 1;
    }
    authlib::login::Handover h;
    h.ticket = auth.ticket();
    h.method = success->method;
    h.utf8 = session.utf8();
    h.pipelined = session.pipelined_input();
    int client_in = 0, client_out = 1;
    if (session.tls_fd() >= 0) {
      h.starttls = true;
      client_in = client_out = session.tls_fd();
      for (char** e = environ; e && *e; ++e)
        if (std::strncmp(*e, "TLS_", 4) == 0 && h.tls_environment.size() < authlib::login::max_tls_variables &&
            std::strlen(*e) <= authlib::login::max_tls_variable_bytes)
          h.tls_environment.emplace_back(*e);
    }
    if (auto sent = authlib::login::send_handover(split->channel.get(), h, client_in, client_out); !sent) {
      lib::log::error("LOGIN FAILED, user=%s: %s", success->login.c_str(), sent.error().message.c_str());
      return 1;
    }
    return 0;
  }

  // The root parent: the account comes from authdaemond, for the ticket.
  const std::string remote_ip = env.get_string("TCPREMOTEIP", "");
  auto received = authlib::login::take_over_client(split->channel.get(), split->child_pid, remote_ip, tls::spawn_couriertls_fds);
  if (!received) {
    lib::log::error("%s", received.error().message.c_str());
    return 1;
  }
  if (!*received) return 0;  // the child ended the session, or died
  const authlib::login::Handover& h = **received;
  authlib::ClientOptions client;
  client.remote_ip = remote_ip;
  std::string login;
  auto redeemed = authlib::redeem_ticket(client, settings.service, h.ticket, login);
  if (redeemed.status != authlib::AuthStatus::ok) {
    lib::log::error("LOGIN FAILED, ip=[%s]: login ticket not redeemed: %s", remote_ip.c_str(), redeemed.error.c_str());
    write_line(pop3d::reply::account_unusable);
    return 1;
  }
  const authlib::Account& account = redeemed.account;

  // The account's environment for pop3d.
  std::vector<std::string> set = authlib::account_environment(account, login);
  set.push_back("POP3_LOGIN_METHOD=" + h.method);
  if (!h.pipelined.empty()) set.push_back("POP3_PIPELINED=" + authlib::sasl::encode_hex(h.pipelined));
  if (h.utf8) set.push_back("UTF8=1");
  if (h.starttls) {
    // As Courier's pop3login after STLS.
    set.push_back("POP3_TLS=1");
    set.push_back("POP3_STARTTLS=NO");
    set.push_back("POP3_TLS_REQUIRED=0");
    for (const auto& v : h.tls_environment) set.push_back(v);
  }
  std::vector<std::string> env_entries = build_environment(set);
  const std::string maildir = account.maildir.empty() ? default_maildir : account.maildir;

  if (auto became = authlib::become_account(account, login); !became) {
    lib::log::error("LOGIN FAILED, user=%s, ip=[%s]: %s", login.c_str(), remote_ip.c_str(),
                    became.error().message.c_str());
    write_line(pop3d::reply::account_unusable);
    return 1;
  }

  std::vector<char*> envp;
  for (auto& e : env_entries) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = {pop3d_program, maildir};
  std::vector<char*> argvp = {args[0].data(), args[1].data(), nullptr};
  ::execve(pop3d_program.c_str(), argvp.data(), envp.data());
  lib::log::error("cannot execute %s for %s: %s; check the start script's pop3d path",
                  pop3d_program.c_str(), login.c_str(), lib::errno_text(errno).c_str());
  write_line(pop3d::reply::account_unusable);
  return 1;
}
