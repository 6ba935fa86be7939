// authlib/client.cpp: see client.hpp.
#include "authlib/client.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "authlib/protocol.hpp"
#include "build-config.h"
#include "lib/config.hpp"
#include "lib/io.hpp"
#include "lib/privileges.hpp"
#include "lib/unique_fd.hpp"

namespace authlib {
namespace {

AuthResult temporary(std::string why) { return {AuthStatus::temporary, {}, std::move(why)}; }

std::string socket_of(const ClientOptions& o) { return o.socket_path.empty() ? default_socket_path() : o.socket_path; }

// Connects, explaining the usual failures to the admin.
lib::Result<lib::UniqueFd> connect_daemon(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return lib::permanent_error("authdaemond socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  lib::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return lib::temporary_error("socket: " + lib::errno_text(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  int err = errno;
  std::string base = "cannot connect to authdaemond at " + path + ": " + lib::errno_text(err);
  switch (err) {
    case ENOENT:
      return lib::temporary_error(base + " (authdaemond is not running, or authdaemonvar differs; start it with "
                                         "'authdaemond start')");
    case ECONNREFUSED:
      return lib::temporary_error(base + " (a stale socket: authdaemond is not running; start it with "
                                         "'authdaemond start')");
    case EACCES:
      return lib::temporary_error(base + " (this process runs as uid " + std::to_string(::geteuid()) + ", gid " +
                                  std::to_string(::getegid()) +
                                  ", which may not enter the socket's directory; it is open to root and the "
                                  "group set by authdaemongroup in authdaemonrc)");
    default:
      return lib::temporary_error(base);
  }
}

// Sends request and reads the whole reply (up to EOF or the end marker).
// An EOF without any reply is authdaemond's temporary failure.
struct RawReply {
  bool temporary = false;
  std::string text;
  std::string error;
};

RawReply exchange(const ClientOptions& o, std::string_view request, bool until_dot_line) {
  std::string path = socket_of(o);
  auto fd = connect_daemon(path);
  if (!fd) return {true, {}, fd.error().message};
  int timeout_ms = static_cast<int>(o.timeout.count());
  lib::io::Writer out(fd->get(), {4096, timeout_ms});
  if (!o.remote_ip.empty() && o.remote_ip.find('\n') == std::string::npos) out.append("TCPREMOTEIP=" + o.remote_ip + "\n");
  if (o.want_ticket) out.append("TICKET=1\n");
  out.append(request);
  if (auto r = out.flush(); !r) return {true, {}, "sending to authdaemond at " + path + ": " + r.error().message};

  lib::io::ReaderOptions ro;
  ro.max_line_bytes = protocol::max_line_bytes;
  ro.read_timeout_ms = timeout_ms;
  ro.idle_timeout_ms = timeout_ms;
  ro.line_ending = lib::io::LineEnding::lf_lenient;
  lib::io::Reader in(fd->get(), ro);
  RawReply reply;
  std::string line;
  for (;;) {
    auto st = in.read_line(line);
    if (st == lib::io::ReadStatus::eof) {
      if (reply.text.empty())
        return {true, {}, "authdaemond at " + path + " reported a temporary failure (its log says why)"};
      return reply;
    }
    if (st != lib::io::ReadStatus::ok)
      return {true, {}, std::string("reading authdaemond's reply: ") + lib::io::describe(st)};
    reply.text += line + "\n";
    if (reply.text.size() > protocol::max_reply_bytes && !until_dot_line)
      return {true, {}, "authdaemond's reply is too long"};
    if (line == "FAIL" || line == "OK" || line == ".") return reply;
    if (!until_dot_line && reply.text.size() == line.size() + 1 && line.find('=') == std::string::npos)
      return {true, {}, "authdaemond at " + path + " sent an unexpected reply"};
  }
}

// The value of a KEY=value line the account parser passes over (TICKET, LOGIN).
std::string reply_field(std::string_view text, std::string_view key) {
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == '=')
      return std::string(line.substr(key.size() + 1));
    start = end + 1;
  }
  return {};
}

AuthResult account_reply(const RawReply& raw, std::string_view what) {
  if (raw.temporary) return temporary(raw.error);
  if (raw.text == "FAIL\n") return {AuthStatus::rejected, {}, std::string(what) + ": no such account or wrong password"};
  auto account = protocol::parse_account_reply(raw.text);
  if (!account) return temporary("authdaemond sent a malformed account for " + std::string(what));
  return {AuthStatus::ok, std::move(*account), {}, reply_field(raw.text, "TICKET")};
}

bool has_newline(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

AuthResult auth_with_payload(const ClientOptions& o, const sasl::AuthRequest& request, std::string_view what) {
  auto payload = sasl::build_auth_payload(request);
  if (!payload) return {AuthStatus::rejected, {}, std::string(what) + ": " + std::string(sasl::problem_text(payload.problem()))};
  std::string req = protocol::auth_request_header(payload->size());
  req.append(payload->reveal());
  auto raw = exchange(o, req, false);
  lib::Secret(std::move(req)).wipe();
  return account_reply(raw, what);
}

}  // namespace

std::string default_socket_path() {
  if (const char* env = std::getenv("AUTHDAEMON_SOCKET"); env && *env) return env;
  std::string dir = LOCALSTATEDIR "/authdaemon";
  if (auto rc = lib::Config::load_file(SYSCONFDIR "/authdaemonrc"))
    dir = rc->get_string("authdaemonvar", dir);
  return dir + "/socket";
}

AuthResult lookup_account(const ClientOptions& o, std::string_view service, std::string_view user) {
  if (user.empty() || has_newline(user) || has_newline(service) || service.find(' ') != std::string_view::npos)
    return {AuthStatus::rejected, {}, "invalid user or service name"};
  return account_reply(exchange(o, protocol::pre_request(service, user), false), user);
}

AuthResult authenticate_login(const ClientOptions& o, std::string_view service, std::string_view user,
                              const lib::Secret& password) {
  sasl::AuthRequest r;
  r.service = service;
  r.fields = sasl::LoginFields{std::string(user), password};
  return auth_with_payload(o, r, user);
}

AuthResult authenticate_cram(const ClientOptions& o, std::string_view service, sasl::CramHash hash,
                             std::string_view challenge_b64, std::string_view response_b64) {
  sasl::AuthRequest r;
  r.service = service;
  r.fields = sasl::CramFields{hash, std::string(challenge_b64), std::string(response_b64)};
  return auth_with_payload(o, r, sasl::cram_authtype(hash));
}

AuthResult redeem_ticket(const ClientOptions& o, std::string_view service, std::string_view ticket,
                         std::string& login) {
  auto bad = [](std::string_view s) { return s.empty() || s.find_first_of(" \t\r\n") != std::string_view::npos; };
  if (bad(service) || bad(ticket)) return {AuthStatus::rejected, {}, "malformed login ticket or service", {}};
  auto raw = exchange(o, protocol::redeem_request(service, ticket), false);
  if (raw.text == "FAIL\n") return {AuthStatus::rejected, {}, "login ticket refused by authdaemond (its log says why)", {}};
  auto r = account_reply(raw, "login ticket");
  login = r.status == AuthStatus::ok ? reply_field(raw.text, "LOGIN") : std::string();
  if (r.status == AuthStatus::ok && login.empty())
    return temporary("authdaemond answered REDEEM without LOGIN=: it predates login tickets");
  return r;
}

AuthResult change_password(const ClientOptions& o, std::string_view service, std::string_view user,
                           const lib::Secret& old_password, const lib::Secret& new_password) {
  auto bad = [](std::string_view s) { return s.find_first_of("\t\r\n") != std::string_view::npos; };
  if (user.empty() || bad(user) || bad(service) || bad(old_password.reveal()) || bad(new_password.reveal()))
    return {AuthStatus::rejected, {}, "a user name or password with a tab or newline cannot be sent"};
  auto request = protocol::passwd_request(service, user, old_password, new_password);
  auto raw = exchange(o, request.reveal(), false);
  if (raw.temporary) return temporary(raw.error);
  if (raw.text == "OK\n") return {AuthStatus::ok, {}, {}};
  return {AuthStatus::rejected, {}, std::string(user) + ": password not changed (wrong old password, or no module "
                                                         "can change it; authdaemond's log says which)"};
}

AuthResult enumerate_accounts(const ClientOptions& o, const std::function<void(const Account&)>& fn) {
  auto raw = exchange(o, "ENUMERATE\n", true);
  if (raw.temporary) return temporary(raw.error);
  size_t start = 0;
  while (start < raw.text.size()) {
    size_t end = raw.text.find('\n', start);
    std::string_view line(raw.text.data() + start, end - start);
    start = end + 1;
    if (line == ".") return {AuthStatus::ok, {}, {}};
    if (auto a = protocol::parse_enumerate_line(line)) fn(*a);
  }
  return temporary("authdaemond's account list ended early");
}

std::vector<std::string> account_environment(const Account& a, std::string_view login) {
  std::vector<std::string> env = {"AUTHENTICATED=" + std::string(login), "HOME=" + a.home};
  if (!a.address.empty()) env.push_back("AUTHADDR=" + a.address);
  if (!a.fullname.empty()) env.push_back("AUTHFULLNAME=" + a.fullname);
  if (!a.maildir.empty()) env.push_back("MAILDIR=" + a.maildir);
  if (!a.quota.empty()) env.push_back("MAILDIRQUOTA=" + a.quota);
  if (!a.options.empty()) env.push_back("OPTIONS=" + a.options);
  return env;
}

lib::Result<void> become_account(const Account& a, std::string_view login) {
  std::string who(login);
  uid_t uid;
  gid_t gid = a.gid;
  std::string user_name;
  if (a.uid) {
    uid = *a.uid;
  } else {
    // USERNAME=: uid and gid of that system account.
    struct passwd* pw = ::getpwnam(a.username.c_str());
    if (!pw)
      return lib::permanent_error("the account " + who + " names system user " + a.username + ", which does not exist");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    user_name = a.username;
  }
  if (uid == 0)
    return lib::permanent_error("the account " + who + " maps to uid 0 (root); mail is never accessed as root: give "
                                "it another uid");
  if (gid == 0)
    return lib::permanent_error("the account " + who + " has gid 0 (group root); mail is never accessed with root's "
                                "group: give it another gid");
  if (::geteuid() == 0) {
    lib::Identity target{uid, gid, who, user_name};
    if (auto dropped = lib::drop_privileges(target); !dropped) return dropped.error();
  } else if (::geteuid() != uid) {
    return lib::permanent_error("the account " + who + " has uid " + std::to_string(uid) + ", but this process runs as uid " +
                                std::to_string(::geteuid()) + " and cannot switch; run the service as root, or give " +
                                "the account uid " + std::to_string(::geteuid()));
  }
  if (a.home.empty()) return lib::permanent_error("the account " + who + " has no home directory");
  if (::chdir(a.home.c_str()) != 0) {
    int err = errno;
    struct stat st;
    if (err == ENOENT)
      return lib::permanent_error("home directory " + a.home + " of " + who + " does not exist; create it, owned by uid " +
                                  std::to_string(uid) + " gid " + std::to_string(gid));
    if (::stat(a.home.c_str(), &st) == 0 && (st.st_uid != uid))
      return lib::permanent_error("cannot enter home directory " + a.home + " of " + who + ": " + lib::errno_text(err) +
                                  "; it is owned by uid " + std::to_string(st.st_uid) + ", the account has uid " +
                                  std::to_string(uid));
    return lib::permanent_error("cannot enter home directory " + a.home + " of " + who + ": " + lib::errno_text(err));
  }
  return {};
}

}  // namespace authlib
