// imapd/imaplogin_main.cpp: imaplogin, the IMAP server before authentication.
// Started by couriertcpd with the client on fd 0/1 (TCPREMOTEIP... in the
// environment) as "imaplogin <imapd> [Maildir]": it greets, authenticates
// through authdaemond (authlib/client.hpp), switches to the account
// (become_account: groups, gid, uid, chdir home) and execs imapd with the
// account environment and IMAPLOGINTAG, so imapd sends the tagged OK.
// SECURITY (DESIGN.md, Privileges): it forks at once (authlib/login_handover.hpp).
// The child drops to the mail user and speaks to the client (the lexer,
// STARTTLS, SASL), bounded by imapd/command_reader.hpp's limits; on success
// it hands authdaemond's login ticket, the tag and the pipelined bytes to the
// root parent, which reads nothing from the client: it redeems the ticket,
// takes the account from authdaemond's answer, switches to it and execs imapd.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <string>
#include <thread>
#include <vector>

#include "authlib/client.hpp"
#include "authlib/login_handover.hpp"
#include "imapd/handoff.hpp"
#include "imapd/login_session.hpp"
#include "imapd/replies.hpp"
#include "imapd/settings.hpp"
#include "lib/io.hpp"
#include "lib/log.hpp"
#include "tls/starttls.hpp"

extern char** environ;

namespace {

void open_log(const imapd::Settings& s, const char* program) {
  lib::log::open(program, lib::log::service_options(s.log_file, s.log_to_stderr));
  for (const auto& w : s.warnings) lib::log::warning("%s", w.c_str());
}

// TLS_SUBJECT_<FIELD> of a verified client certificate: the EXTERNAL identity.
std::string external_identity(const imapd::Settings& s) {
  if (s.tls_external.empty()) return {};
  std::string name = "TLS_SUBJECT_";
  for (char c : s.tls_external) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const char* v = std::getenv(name.c_str());
  return v ? v : "";
}

int check_config(int argc, char** argv) {
  std::vector<std::string> paths(argv + 2, argv + argc);
  if (paths.empty()) {
    std::fprintf(stderr, "usage: imaplogin --check-config FILE...\n");
    return 64;
  }
  auto warnings = imapd::check_config_files(paths);
  if (!warnings) {
    std::fprintf(stderr, "imaplogin: %s\n", warnings.error().message.c_str());
    return 78;
  }
  for (const auto& w : *warnings) std::fprintf(stderr, "imaplogin: WARN: %s\n", w.c_str());
  return 0;
}

// TLS_* variables couriertls put into our environment (STARTTLS).
std::vector<std::string> tls_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "TLS_", 4) == 0 && out.size() < authlib::login::max_tls_variables &&
        std::strlen(*e) <= authlib::login::max_tls_variable_bytes)
      out.emplace_back(*e);
  return out;
}

// The child: the whole dialogue with the client, as the mail user. Returns
// the exit code.
int child_main(imapd::Settings& settings, const std::string& remote_ip, int channel) {
  lib::io::ReaderOptions ro;
  ro.max_line_bytes = imapd::max_login_command_bytes;
  int login_ms = static_cast<int>(settings.login_timeout.count() * 1000);
  ro.read_timeout_ms = login_ms;
  ro.idle_timeout_ms = login_ms;
  lib::io::Reader reader(0, ro);
  lib::io::Writer writer(1);

  authlib::ClientOptions co;
  co.remote_ip = remote_ip;
  authlib::login::TicketingAuthenticator auth(co);
  imapd::LoginHooks hooks;
  hooks.login = [&](std::string_view user, const lib::Secret& pw) { return auth.login(settings.service, user, pw); };
  hooks.cram = [&](authlib::sasl::CramHash h, std::string_view ch, std::string_view resp) {
    return auth.cram(settings.service, h, ch, resp);
  };
  hooks.lookup = [&](std::string_view user) { return auth.lookup(settings.service, user); };
  hooks.delay = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  // STARTTLS through couriertls, as Courier does: only offered when it can run.
  const char* couriertls_env = std::getenv("COURIERTLS");
  std::string couriertls = couriertls_env && *couriertls_env ? couriertls_env : std::string(BINDIR) + "/couriertls";
  bool started_tls = false;
  if (settings.starttls && !settings.tls_active && ::access(couriertls.c_str(), X_OK) == 0) {
    hooks.start_tls = [&]() -> lib::Result<std::string> {
      tls::StartTlsOptions options;
      options.couriertls = couriertls;
      // couriertls reads the keys as root: the parent starts it.
      options.spawn = tls::spawn_via([channel](int socket) { return authlib::login::request_starttls(channel, socket); });
      auto fd = tls::start_tls(0, options);
      if (!fd) return fd.error();
      if (::dup2(*fd, 0) < 0 || ::dup2(*fd, 1) < 0)
        return lib::temporary_error("dup2 after STARTTLS: " + lib::errno_text(errno));
      ::close(*fd);
      started_tls = true;
      return external_identity(settings);
    };
  } else if (settings.starttls && !settings.tls_active) {
    lib::log::warning("STARTTLS not offered: %s cannot be executed (%s); set COURIERTLS in imapd-ssl",
                      couriertls.c_str(), lib::errno_text(errno).c_str());
  }

  lib::log::info("Connection, ip=[%s]", remote_ip.c_str());
  auto outcome = imapd::run_login_session(settings, reader, writer, hooks,
                                         settings.tls_active ? external_identity(settings) : std::string());
  (void)writer.flush();
  if (!outcome) {
    lib::log::info("Disconnected, ip=[%s]", remote_ip.c_str());
    return 0;
  }
  if (auth.ticket().empty()) {
    lib::log::error("LOGIN FAILED, user=%s, ip=[%s]: authdaemond sent no login ticket with the account (an "
                    "authdaemond older than this imaplogin? restart it from the same installation)",
                    outcome->login.c_str(), remote_ip.c_str());
    writer.append(imapd::reply::tagged(outcome->tag, "NO", "[UNAVAILABLE] Server error, see the server log."));
    (void)writer.flush();
    return 1;
  }
  authlib::login::Handover h;
  h.ticket = auth.ticket();
  h.tag = outcome->tag;
  h.starttls = started_tls;
  if (started_tls) h.tls_environment = tls_environment();
  // What the client sent behind its login command is already in our buffer
  // (at most a 64 KiB line and its CRLF): imapd reads it first.
  if (size_t n = reader.buffered(); n > 0 && reader.read_exact(n, h.pipelined) != lib::io::ReadStatus::ok)
    h.pipelined.clear();
  if (auto sent = authlib::login::send_handover(channel, h, 0, 1); !sent) {
    lib::log::error("LOGIN FAILED, user=%s, ip=[%s]: %s", outcome->login.c_str(), remote_ip.c_str(),
                    sent.error().message.c_str());
    return 1;
  }
  return 0;
}

// The root parent: waits for the child's hand-over, then logs in the account
// authdaemond names for the ticket. Returns the exit code if it cannot exec.
int parent_main(imapd::Settings& settings, const std::string& remote_ip, int channel, pid_t child, int argc,
                char** argv) {
  auto received = authlib::login::take_over_client(channel, child, remote_ip, tls::spawn_couriertls_fds);
  if (!received) {
    lib::log::error("%s", received.error().message.c_str());
    return 1;
  }
  if (!*received) return 0;  // the child ended the session, or died
  authlib::login::Handover& h = **received;
  lib::io::Writer writer(1);
  const std::string tag = h.tag.empty() ? "*" : h.tag;
  auto refuse = [&](const std::string& login, const std::string& why, std::string_view text) {
    lib::log::error("LOGIN FAILED, user=%s, ip=[%s]: %s", login.c_str(), remote_ip.c_str(), why.c_str());
    writer.append(imapd::reply::tagged(tag, "NO", text));
    (void)writer.flush();
    return 1;
  };

  authlib::ClientOptions co;
  co.remote_ip = remote_ip;
  std::string login;
  auto redeemed = authlib::redeem_ticket(co, settings.service, h.ticket, login);
  if (redeemed.status != authlib::AuthStatus::ok)
    return refuse("?", "login ticket not redeemed: " + redeemed.error, "[UNAVAILABLE] Server error, see the server log.");
  const bool tls = settings.tls_active || h.starttls;
  if (std::string_view why = imapd::check_account_options(redeemed.account.options, tls); !why.empty())
    return refuse(login, "account options refuse IMAP", why);
  for (const auto& v : h.tls_environment) ::putenv(const_cast<char*>(v.c_str()));
  auto become = authlib::become_account(redeemed.account, login);
  if (!become) return refuse(login, become.error().message, "[UNAVAILABLE] Cannot open this account, see the server log.");
  lib::log::info("LOGIN, user=%s, ip=[%s], port=[%s], protocol=IMAP", login.c_str(), remote_ip.c_str(),
                 std::getenv("TCPREMOTEPORT") ? std::getenv("TCPREMOTEPORT") : "");

  // The environment imapd gets: ours, with the hand-off (the account's
  // variables, the tag, IMAP_TLS, the pipelined commands) on top.
  auto handoff = imapd::Handoff::after_login(redeemed.account, login, h.tag, tls);
  handoff.pipelined = std::move(h.pipelined);
  std::vector<std::string> over = handoff.to_environment();
  // An imapd session is one thread that mostly waits: glibc's per-thread
  // cache of freed small chunks (tcache) only speeds up threads contending
  // for the heap, and what it holds after SELECT keeps ~40 KiB of heap
  // pages resident in every idle session (bench/access/README.md). An admin
  // who sets GLIBC_TUNABLES for imaplogin decides instead.
  if (std::getenv("GLIBC_TUNABLES") == nullptr) over.emplace_back(imapd::imapd_malloc_tunables);
  std::vector<std::string> keep = imapd::merge_environment(environ, over);
  std::vector<char*> envp;
  for (auto& s : keep) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::string imapd_path = argc > 1 ? argv[1] : std::string(LIBEXECDIR) + "/imapd";
  std::vector<char*> args;
  args.push_back(imapd_path.data());
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execve(imapd_path.c_str(), args.data(), envp.data());
  lib::log::error("cannot run %s: %s (the imaplogin command line names imapd's path: imaplogin /path/to/imapd Maildir)",
                  imapd_path.c_str(), lib::errno_text(errno).c_str());
  writer.append(imapd::reply::tagged(tag, "NO", "[UNAVAILABLE] Server error, see the server log."));
  (void)writer.flush();
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--check-config") == 0) return check_config(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  imapd::Settings settings = imapd::settings_from_environment(environ);
  open_log(settings, "imaplogin");
  std::string remote_ip = std::getenv("TCPREMOTEIP") ? std::getenv("TCPREMOTEIP") : "";

  auto split = authlib::login::split("imaplogin");
  if (!split) {
    lib::log::error("%s", split.error().message.c_str());
    lib::io::Writer writer(1);
    writer.append("* BYE Server error, see the server log.\r\n");
    (void)writer.flush();
    return 1;
  }
  if (split->child) return child_main(settings, remote_ip, split->channel.get());
  return parent_main(settings, remote_ip, split->channel.get(), split->child_pid, argc, argv);
}
