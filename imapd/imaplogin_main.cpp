// imapd/imaplogin_main.cpp: imaplogin, the IMAP server before authentication.
// Started by couriertcpd with the client on fd 0/1 (TCPREMOTEIP... in the
// environment) as "imaplogin <imapd> [Maildir]": it greets, authenticates
// through authdaemond (authlib/client.hpp), switches to the account
// (become_account: groups, gid, uid, chdir home) and execs imapd with the
// account environment and IMAPLOGINTAG, so imapd sends the tagged OK.
// SECURITY: runs as root (to switch uid) or as the suite's user; reads only
// untrusted client input, bounded by imapd/command_reader.hpp's limits.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <string>
#include <thread>
#include <vector>

#include "authlib/client.hpp"
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

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--check-config") == 0) return check_config(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  imapd::Settings settings = imapd::settings_from_environment(environ);
  open_log(settings, "imaplogin");
  std::string remote_ip = std::getenv("TCPREMOTEIP") ? std::getenv("TCPREMOTEIP") : "";

  lib::io::ReaderOptions ro;
  ro.max_line_bytes = imapd::max_login_command_bytes;
  int login_ms = static_cast<int>(settings.login_timeout.count() * 1000);
  ro.read_timeout_ms = login_ms;
  ro.idle_timeout_ms = login_ms;
  lib::io::Reader reader(0, ro);
  lib::io::Writer writer(1);

  authlib::ClientOptions co;
  co.remote_ip = remote_ip;
  imapd::LoginHooks hooks;
  hooks.login = [&](std::string_view user, const lib::Secret& pw) {
    return authlib::authenticate_login(co, settings.service, user, pw);
  };
  hooks.cram = [&](authlib::sasl::CramHash h, std::string_view ch, std::string_view resp) {
    return authlib::authenticate_cram(co, settings.service, h, ch, resp);
  };
  hooks.lookup = [&](std::string_view user) { return authlib::lookup_account(co, settings.service, user); };
  hooks.delay = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  // STARTTLS through couriertls, as Courier does: only offered when it can run.
  const char* couriertls_env = std::getenv("COURIERTLS");
  std::string couriertls = couriertls_env && *couriertls_env ? couriertls_env : std::string(BINDIR) + "/couriertls";
  if (settings.starttls && !settings.tls_active && ::access(couriertls.c_str(), X_OK) == 0) {
    hooks.start_tls = [&]() -> lib::Result<std::string> {
      tls::StartTlsOptions options;
      options.couriertls = couriertls;
      auto fd = tls::start_tls(0, options);
      if (!fd) return fd.error();
      if (::dup2(*fd, 0) < 0 || ::dup2(*fd, 1) < 0)
        return lib::temporary_error("dup2 after STARTTLS: " + lib::errno_text(errno));
      ::close(*fd);
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
  auto become = authlib::become_account(outcome->account, outcome->login);
  if (!become) {
    lib::log::error("LOGIN FAILED, user=%s, ip=[%s]: %s", outcome->login.c_str(), remote_ip.c_str(),
                    become.error().message.c_str());
    writer.append(imapd::reply::tagged(outcome->tag, "NO", "[UNAVAILABLE] Cannot open this account, see the server log."));
    (void)writer.flush();
    return 1;
  }
  lib::log::info("LOGIN, user=%s, ip=[%s], port=[%s], protocol=IMAP", outcome->login.c_str(), remote_ip.c_str(),
                 std::getenv("TCPREMOTEPORT") ? std::getenv("TCPREMOTEPORT") : "");

  // The environment imapd gets: ours, with the hand-off (the account's
  // variables, the tag, IMAP_TLS) on top.
  auto handoff = imapd::Handoff::after_login(outcome->account, outcome->login, outcome->tag, settings.tls_active);
  // What the client sent behind its login command is already in our buffer
  // (at most a 64 KiB line and its CRLF): imapd reads it first.
  if (size_t n = reader.buffered(); n > 0 && reader.read_exact(n, handoff.pipelined) != lib::io::ReadStatus::ok)
    handoff.pipelined.clear();
  std::vector<std::string> keep = imapd::merge_environment(environ, handoff.to_environment());
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
  writer.append(imapd::reply::tagged(outcome->tag, "NO", "[UNAVAILABLE] Server error, see the server log."));
  (void)writer.flush();
  return 1;
}
