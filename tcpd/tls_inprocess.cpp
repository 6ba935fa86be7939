// tcpd/tls_inprocess.cpp: see tls_inprocess.hpp.
//
// SECURITY: the context (with the private keys) is built in couriertcpd as
// the user that starts it; each connection's process drops to -user or the
// mail user in tls::serve_connection before it reads a byte from the client,
// as couriertls does.
#include "tcpd/tls_inprocess.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tuple>

#include "lib/log.hpp"
#include "lib/privileges.hpp"
#include "lib/unique_fd.hpp"
#include "tcpd/server.hpp"  // inherited_environment
#include "tls/context.hpp"
#include "tls/couriertls_options.hpp"
#include "tls/couriertls_serve.hpp"
#include "tls/settings.hpp"

namespace tcpd {

namespace {

constexpr auto files_check_interval = std::chrono::seconds(1);
// Built again this often even when no file changed, as couriertls would judge
// it: a certificate past its end date is refused (connections then exec
// couriertls, which says so), and "expires in N days" stays true.
constexpr auto context_max_age = std::chrono::hours(1);

tls::EnvLookup lookup_in(const EnvVars& env) {
  return [&env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

// The TLS_* variables: equal ones give equal settings (TCPLOCALIP and
// TCPREMOTEIP are handled apart).
EnvVars tls_variables(const EnvVars& env) {
  EnvVars out;
  for (auto it = env.lower_bound("TLS_"); it != env.end() && it->first.rfind("TLS_", 0) == 0; ++it)
    out.insert(*it);
  return out;
}

bool readable(const std::string& path) { return !path.empty() && ::access(path.c_str(), R_OK) == 0; }

// What the context was built from, to notice a renewed certificate: every
// file the settings name, the certificate's folder (SNI files come and go
// there) and each $TLS_CERTFILE.* file in it.
using FileStamp = std::tuple<std::string, dev_t, ino_t, off_t, long, long>;

FileStamp file_stamp(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) return {path, 0, 0, -1, 0, 0};
  return {path, sb.st_dev, sb.st_ino, sb.st_size, sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec};
}

std::vector<FileStamp> file_stamps(const tls::Settings& s) {
  std::vector<FileStamp> out;
  auto add = [&out](const std::string& path) {
    if (!path.empty()) out.push_back(file_stamp(path));
  };
  for (const auto* path : {&s.certfile, &s.private_keyfile, &s.dhparams, &s.trustcerts}) add(*path);
  if (s.certfile.empty()) return out;
  size_t slash = s.certfile.rfind('/');
  std::string dir = slash == std::string::npos ? "." : s.certfile.substr(0, slash == 0 ? 1 : slash);
  std::string prefix = (slash == std::string::npos ? s.certfile : s.certfile.substr(slash + 1)) + ".";
  add(dir);
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name(e->d_name);
      if (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix) add(dir + "/" + std::string(name));
    }
    ::closedir(d);
  }
  return out;
}

}  // namespace

struct InProcessTls::State {
  std::string program_path;
  std::vector<std::string> program_args;  // argv, couriertls first
  tls::CouriertlsOptions options;
  EnvVars tls_vars;     // couriertcpd's TLS_* variables, which the context was built from
  tls::Settings settings;
  std::optional<tls::Context> context;  // empty: the files are wrong, connections exec couriertls
  std::vector<FileStamp> stamps;
  std::chrono::steady_clock::time_point checked{};
  std::chrono::steady_clock::time_point built{};
  // Whom each connection's process drops to (-user, else the mail user when
  // couriertcpd runs as root), resolved with the context, and the MAILUSER
  // it was resolved for: a connection whose access-file entry sets another
  // resolves its own, as couriertls would.
  std::optional<lib::Identity> run_as;
  std::optional<std::string> run_as_mailuser;
  std::vector<FileStamp> account_stamps;  // /etc/passwd and /etc/group when run_as was resolved
};

namespace {

std::optional<std::string> env_value(const EnvVars& env, std::string_view name) {
  auto it = env.find(name);
  if (it == env.end()) return std::nullopt;
  return it->second;
}

// The files the mail user's uid, gid and groups come from.
std::vector<FileStamp> account_stamps() { return {file_stamp("/etc/passwd"), file_stamp("/etc/group")}; }

// serve_connection's identity, resolved now; nothing when it cannot be (each
// connection then resolves it and says what is wrong).
void resolve_run_as(InProcessTls::State& st, const EnvVars& env) {
  st.account_stamps = account_stamps();
  st.run_as.reset();
  st.run_as_mailuser = env_value(env, "MAILUSER");
  if (!st.options.user.empty()) {
    if (auto who = lib::resolve_identity(st.options.user, ""); who) st.run_as = std::move(*who);
  } else if (::geteuid() == 0) {
    if (auto who = lib::mail_user(); who) st.run_as = std::move(*who);
  }
}

}  // namespace

InProcessTls::InProcessTls(std::unique_ptr<State> state) : state_(std::move(state)) {}
InProcessTls::~InProcessTls() = default;

std::unique_ptr<InProcessTls> InProcessTls::prepare(const std::string& program_path,
                                                    const std::vector<std::string>& program_args,
                                                    const EnvVars& env, std::string* problem) {
  if (program_args.empty()) return nullptr;
  std::string_view name(program_args[0]);
  if (size_t slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  if (name != "couriertls") return nullptr;
  if (auto off = env.find("TCPD_TLS_INPROCESS"); off != env.end() && off->second == "0") return nullptr;
  std::vector<std::string> args(program_args.begin() + 1, program_args.end());
  auto options = tls::parse_couriertls_args(args);
  // Only what a start script runs: a server on fds 0/1 with a program.
  if (!options || !options->server || !options->tcpd || options->check || options->program.empty() ||
      options->status_fd >= 0 || options->printx509_fd >= 0 || options->env_fd >= 0 || options->local_fd >= 0 ||
      !options->host.empty())
    return nullptr;
  EnvVars base = tls_variables(env);
  auto settings = tls::parse_settings(lookup_in(base));
  if (!settings) {
    if (problem) *problem = settings.error().message;
    return nullptr;  // the settings are read once: couriertls says what is wrong for each connection
  }
  auto state = std::make_unique<State>();
  state->program_path = program_path;
  state->program_args = program_args;
  state->options = std::move(*options);
  state->tls_vars = std::move(base);
  state->settings = std::move(*settings);
  state->stamps = file_stamps(state->settings);
  state->checked = state->built = std::chrono::steady_clock::now();
  tls::ContextOptions ctx_options;
  ctx_options.role = tls::Role::server;
  auto context = tls::Context::create(state->settings, ctx_options);
  resolve_run_as(*state, env);
  if (context) {
    context->warm_up();
    state->context.emplace(std::move(*context));
  } else if (problem) {
    *problem = context.error().message;
  }
  return std::unique_ptr<InProcessTls>(new InProcessTls(std::move(state)));
}

void InProcessTls::check_files() {
  auto now = std::chrono::steady_clock::now();
  if (now - state_->checked < files_check_interval) return;
  state_->checked = now;
  if (account_stamps() != state_->account_stamps)  // the mail user may have changed: resolved again
    resolve_run_as(*state_, inherited_environment(environ));
  auto stamps = file_stamps(state_->settings);
  bool changed = stamps != state_->stamps;
  if (!changed && now - state_->built < context_max_age) return;
  state_->stamps = std::move(stamps);
  state_->built = now;
  tls::ContextOptions ctx_options;
  ctx_options.role = tls::Role::server;
  auto context = tls::Context::create(state_->settings, ctx_options);
  if (!context) {
    if (changed || state_->context) {
      lib::log::error("%s: %s; connections run couriertls, which says so for each, until the files are fixed",
                      changed ? "TLS files changed, and the new ones cannot be used" : "the TLS files cannot be used",
                      context.error().message.c_str());
    }
    state_->context.reset();
    return;
  }
  if (changed) lib::log::info("TLS files changed: serving %s from now on", context->certificate_path().c_str());
  context->warm_up();
  state_->context.emplace(std::move(*context));
}

pid_t InProcessTls::spawn(int fd, const EnvVars& vars, bool stderr_to_socket) {
  check_files();
  pid_t pid = ::fork();
  if (pid != 0) return pid;

  // The connection's process: set up as posix_spawn would for the program.
  sigset_t none;
  sigemptyset(&none);
  for (int sig : {SIGPIPE, SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM})
    std::signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::dup2(fd, 0) < 0 || ::dup2(fd, 1) < 0 || (stderr_to_socket && ::dup2(fd, 2) < 0)) _exit(1);
  ::close_range(3, ~0U, 0);
  ::clearenv();
  for (const auto& [name, value] : vars) ::setenv(name.c_str(), value.c_str(), 1);

  const State& st = *state_;
  auto settings = tls::parse_settings(tls::process_environment());
  bool same = st.context && settings && tls_variables(vars) == st.tls_vars;
  if (same && !settings->local_ip.empty() && readable(st.settings.certfile + "." + settings->local_ip))
    same = false;  // $TLS_CERTFILE.<TCPLOCALIP>: couriertls picks it
  if (!same) {
    std::vector<char*> argv;
    for (const auto& a : st.program_args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(st.program_path.c_str(), argv.data());
    std::fprintf(stderr, "couriertcpd: cannot run %s: %s\n", st.program_path.c_str(),
                 lib::errno_text(errno).c_str());
    _exit(127);
  }

  // From here on this process is couriertls, as if it had been exec'd: ps,
  // top and /proc/PID/status name it so (its exe stays couriertcpd).
  ::prctl(PR_SET_NAME, "couriertls", 0, 0, 0);
  lib::log::Options log_options;
  log_options.target = lib::log::Target::stderr;
  lib::log::open("couriertls", log_options);
  lib::log::set_min_level(lib::log::debug_switch("DEBUG_TLS") >= 1 ? lib::log::Level::debug
                                                                     : lib::log::Level::info);
  std::signal(SIGPIPE, SIG_IGN);
  ::dup2(2, 1);  // Courier: fd 1 becomes stderr, the socket stays on fd 0
  tls::Context& context = *state_->context;
  auto ticket_warning = context.reload_ticket_keys();
  for (const auto& warning : context.warnings())
    if (warning != ticket_warning) lib::log::warning("%s", warning.c_str());  // said once, below
  if (ticket_warning) lib::log::warning("%s", ticket_warning->c_str());
  const lib::Identity* run_as = nullptr;
  if (st.run_as && env_value(vars, "MAILUSER") == st.run_as_mailuser) run_as = &*st.run_as;
  int rc = tls::serve_connection(st.options, *settings, context, 0, lib::UniqueFd(), run_as);
  std::fflush(nullptr);
  _exit(rc);
}

}  // namespace tcpd
