// authlib/login_handover.cpp: see login_handover.hpp.
#include "authlib/login_handover.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>

#include "build-config.h"
#include "lib/privileges.hpp"

namespace authlib::login {
namespace {
ClientOptions with_ticket(ClientOptions o) {
  o.want_ticket = true;
  return o;
}
}  // namespace

TicketingAuthenticator::TicketingAuthenticator(ClientOptions options) : inner_(with_ticket(std::move(options))) {}

AuthResult TicketingAuthenticator::keep(AuthResult r) {
  ticket_ = r.status == AuthStatus::ok ? r.ticket : std::string();
  return r;
}
AuthResult TicketingAuthenticator::login(std::string_view service, std::string_view user, const lib::Secret& password) {
  return keep(inner_.login(service, user, password));
}
AuthResult TicketingAuthenticator::cram(std::string_view service, sasl::CramHash hash, std::string_view challenge_b64,
                                        std::string_view response_b64) {
  return keep(inner_.cram(service, hash, challenge_b64, response_b64));
}
AuthResult TicketingAuthenticator::lookup(std::string_view service, std::string_view user) {
  return keep(inner_.lookup(service, user));
}

const char* empty_directory() {
  static const char* const candidates[] = {LOCALSTATEDIR "/empty", "/var/empty"};
  for (const char* dir : candidates) {
    struct stat st;
    if (::stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return dir;
  }
  return "/";
}

lib::Result<Split> split(const char* program) {
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
    return lib::temporary_error(std::string(program) + ": socketpair for the login child: " + lib::errno_text(errno));
  lib::UniqueFd parent_end(sp[0]), child_end(sp[1]);
  // Resolved before the fork, so a missing mail user is said once, here.
  std::optional<lib::Identity> mail;
  if (::geteuid() == 0) {
    auto id = lib::mail_user();
    if (!id) return id.error();
    id->initgroups_name.clear();
    mail = *id;
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return lib::temporary_error(std::string(program) + ": fork of the login child: " + lib::errno_text(errno));
  Split s;
  if (pid == 0) {
    parent_end.reset();
    const char* dir = empty_directory();
    if (::chdir(dir) != 0)
      return lib::permanent_error(std::string("cannot enter ") + dir + ": " + lib::errno_text(errno));
    if (mail) {
      if (auto dropped = lib::drop_privileges(*mail); !dropped) return dropped.error();
    }
    // Without its parent the child cannot log anyone in: it ends with it
    // (set after the uid change, which clears it).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(0);
    s.child = true;
    s.channel = std::move(child_end);
    return s;
  }
  child_end.reset();
  // Root keeps no descriptor of the client while the child talks to it.
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(null_fd, 1) < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);
    return lib::temporary_error(std::string(program) + ": /dev/null: " + lib::errno_text(err));
  }
  if (null_fd > 1) ::close(null_fd);
  s.child_pid = pid;
  s.channel = std::move(parent_end);
  return s;
}

namespace {

// One byte, with descriptors.
bool send_with_fds(int channel, char byte, const std::vector<int>& fds) {
  struct iovec iov {&byte, 1};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  while ((n = ::sendmsg(channel, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  return n == 1;
}

// Receives up to `size` bytes and any descriptors (close-on-exec). -1: error.
ssize_t receive_with_fds(int channel, char* buf, size_t size, std::vector<lib::UniqueFd>& fds) {
  char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  struct iovec iov {buf, size};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n < 0) return n;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  return n;
}

}  // namespace

lib::Result<void> send_handover(int channel, const Handover& h, int in_fd, int out_fd) {
  std::string bytes = encode(h);
  if (!send_with_fds(channel, bytes[0], {in_fd, out_fd}))
    return lib::temporary_error("sending the hand-over to the login parent: " + lib::errno_text(errno));
  size_t off = 1;
  while (off < bytes.size()) {
    ssize_t w = ::send(channel, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return lib::temporary_error("sending the hand-over to the login parent: " + lib::errno_text(errno));
    off += static_cast<size_t>(w);
  }
  return {};
}


lib::Result<std::vector<lib::UniqueFd>> request_starttls(int channel, int client_socket) {
  if (!send_with_fds(channel, 'S', {client_socket}))
    return lib::temporary_error("STARTTLS: asking the login parent: " + lib::errno_text(errno));
  std::vector<lib::UniqueFd> fds;
  char answer = 0;
  ssize_t n = receive_with_fds(channel, &answer, 1, fds);
  if (n == 1 && answer == 'T' && fds.size() == 3) return fds;
  return lib::temporary_error("STARTTLS: the login parent could not start couriertls (its log says why)");
}

lib::Result<std::optional<Received>> receive_handover(int channel, pid_t child, const StartTlsServer& on_starttls) {
  std::string bytes;
  std::vector<lib::UniqueFd> fds;
  bool oversized = false, tls_served = false;
  for (;;) {
    char buf[16384];
    std::vector<lib::UniqueFd> got;
    ssize_t n = receive_with_fds(channel, buf, sizeof buf, got);
    if (n < 0) break;
    // A STARTTLS request: "S" alone, with the client's socket, once.
    if (n == 1 && buf[0] == 'S' && bytes.empty() && fds.empty() && got.size() == 1 && !tls_served && on_starttls) {
      tls_served = true;
      auto spawned = on_starttls(got[0].get());
      got.clear();  // root keeps no client descriptor
      std::vector<int> reply;
      if (spawned)
        for (auto& fd : *spawned) reply.push_back(fd.get());
      (void)send_with_fds(channel, spawned && reply.size() == 3 ? 'T' : 'E', spawned ? reply : std::vector<int>{});
      continue;
    }
    for (auto& fd : got) fds.push_back(std::move(fd));
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > max_handover_bytes) {
      oversized = true;  // read on to EOF, so the child is not stuck writing
      continue;
    }
    bytes.append(buf, static_cast<size_t>(n));
  }
  int status;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (bytes.empty() && fds.empty() && !oversized) return std::optional<Received>();
  if (oversized) return lib::permanent_error("oversized hand-over (more than " + std::to_string(max_handover_bytes) + " bytes)");
  if (fds.size() != 2)
    return lib::permanent_error("the hand-over came with " + std::to_string(fds.size()) + " descriptors, not the client's 2");
  auto h = parse(bytes);
  if (!h) return h.error();
  Received r;
  r.handover = std::move(*h);
  r.in = std::move(fds[0]);
  r.out = std::move(fds[1]);
  return std::optional<Received>(std::move(r));
}

lib::Result<std::optional<Handover>> take_over_client(int channel, pid_t child, const std::string& remote_ip,
                                                      const StartTlsServer& on_starttls) {
  auto received = receive_handover(channel, child, on_starttls);
  if (!received)
    return lib::permanent_error("login child " + std::to_string(child) + " (ip=[" + remote_ip +
                                "]): hand-over dropped: " + received.error().message);
  if (!*received) return std::optional<Handover>();
  Received& got = **received;
  if (::dup2(got.in.get(), 0) < 0 || ::dup2(got.out.get(), 1) < 0)
    return lib::temporary_error("dup2 of the client's descriptors from the login child: " + lib::errno_text(errno));
  return std::optional<Handover>(std::move(got.handover));
}

}  // namespace authlib::login
