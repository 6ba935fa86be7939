// tcpd/server.hpp: couriertcpd's daemon: listening sockets, the accept loop
// on libevent, connection limits, the access file, and fork+exec of the
// program per connection with the socket on fd 0 and 1 and Courier's
// environment (TCPREMOTEIP, TCPREMOTEPORT, TCPREMOTEHOST, TCPREMOTEINFO,
// TCPLOCALIP, TCPLOCALPORT, TCPLOCALHOST, the access file's variables,
// BLOCK...). PROXY headers, DNS (host names, blocklists) and ident run in a
// per-connection lookup helper (tcpd/lookup_helper.hpp).
//
// SECURITY: started with -user/-group (esmtpd), main() drops to them right
// after binding, before the loop starts. Started without them (the root
// login programs imaplogin and pop3login need a root parent), the daemon
// stays root but reads nothing from the network itself: its untrusted
// input is the kernel's accept() addresses and the lookup helper's fixed,
// bounded result (tcpd/lookup_result.hpp), parsed strictly. The PROXY
// header, DNS replies and ident replies are parsed in the helper, which runs
// as the mail user (MAILUSER) whenever the daemon is root.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/event.hpp"
#include "lib/privileges.hpp"
#include "lib/result.hpp"
#include "lib/unique_fd.hpp"
#include "tcpd/access.hpp"
#include "tcpd/blocklist.hpp"
#include "tcpd/ident.hpp"
#include "tcpd/lookup_helper.hpp"
#include "tcpd/lookup_result.hpp"
#include "tcpd/options.hpp"
#include "tcpd/resolver.hpp"

namespace tcpd {

struct BoundListener {
  lib::UniqueFd fd;
  std::string description;  // "0.0.0.0:143", "[::]:143", "127.0.0.1:25"
};

// Binds every entry of opts.listen (a wildcard binds IPv6 with IPV6_V6ONLY
// and IPv4, or IPv4 alone where the kernel has no IPv6). Errors name the
// entry, the address and port, the errno text and a hint.
lib::Result<std::vector<BoundListener>> bind_listeners(const Options& opts);

// The environment the children start from: ours, less the variables
// couriertcpd sets itself.
EnvVars inherited_environment(char** environ_ptr);

class Server {
 public:
  // Sets up the event loop, the resolver and the access file. program_path is
  // the resolved path of opts.program.
  static lib::Result<std::unique_ptr<Server>> create(Options opts, std::string program_path,
                                                     std::vector<BoundListener> listeners, EnvVars base_env);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Runs until SIGTERM/SIGINT and the children are gone. Returns the exit code.
  int run();

  // When set, starts a connection's process instead of posix_spawn (couriertcpd
  // sets it to tcpd::InProcessTls::spawn): the socket, the connection's
  // variables, whether stderr goes to the socket; returns the pid or -1 with errno.
  std::function<pid_t(int fd, const EnvVars& vars, bool stderr_to_socket)> spawn_hook;

 private:
  struct Pending;
  struct ProxyWait;
  struct HelperRun;
  struct Child {
    IpAddress addr;
  };
  struct HostCacheEntry {
    std::optional<std::string> name;
    std::chrono::steady_clock::time_point expires;
  };

  Server() = default;
  lib::Result<void> setup(std::vector<BoundListener> listeners);

  static void on_accept(evutil_socket_t fd, short, void* arg) noexcept;
  static void on_signal(evutil_socket_t sig, short, void* arg) noexcept;
  static void on_resume(evutil_socket_t, short, void* arg) noexcept;
  static void on_shutdown_timer(evutil_socket_t, short, void* arg) noexcept;
  static void on_helper(evutil_socket_t fd, short what, void* arg) noexcept;

  void accept_from(int listen_fd);
  void handle_connection(lib::UniqueFd fd, const IpAddress& remote, uint16_t remote_port);
  std::unique_ptr<HelperRun> start_helper(uint64_t id, bool proxy_stage, const LookupTask& task, int fd,
                                          const IpAddress& remote);
  void helper_event(uint64_t id, bool proxy_stage, short what);
  void proxy_result(uint64_t id, LookupResult r);
  // result: what a -haproxy helper already found out (nullopt: start the lookups).
  void admit(lib::UniqueFd fd, const IpAddress& remote, uint16_t remote_port, const IpAddress& local,
             uint16_t local_port, bool proxied, std::optional<LookupResult> result);
  std::optional<std::optional<std::string>> cached_local_host(const IpAddress& addr) const;
  void finish(uint64_t id, LookupResult r);
  void spawn_child(Pending& p, const EnvVars& vars);
  void deny(int fd, bool send_message);
  void reap_children();
  void reload();
  void begin_shutdown();
  void pause_listeners();
  void resume_listeners();
  void update_listening();
  size_t active() const { return proxy_waits_.size() + pending_.size() + children_.size(); }
  int count_ip(const IpAddress& a) const;
  int count_c_block(const IpAddress& a) const;
  void release_ip(const IpAddress& a);
  void start_logger();
  bool rate_ok(std::chrono::steady_clock::time_point& last, std::chrono::seconds every);

  Options opts_;
  std::string program_path_;
  EnvVars base_env_;
  lib::EventBase base_;
  std::optional<lib::Identity> helper_user_;  // whom lookup helpers become (nullopt: stay as we are)
  std::optional<AccessFile> access_;
  std::chrono::steady_clock::time_point access_checked_{};

  struct Listener {
    lib::UniqueFd fd;
    lib::Event ev;
    std::string description;
  };
  std::vector<Listener> listeners_;
  bool listening_ = true;   // events added
  bool backoff_ = false;    // paused after EMFILE and friends
  std::chrono::milliseconds backoff_delay_{100};
  lib::Event resume_timer_;
  std::vector<lib::Event> signals_;
  lib::Event shutdown_timer_;
  int shutdown_stage_ = 0;  // 0 running, 1 waiting for children, 2 SIGTERM sent, 3 SIGKILL sent

  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Pending>> pending_;
  std::map<uint64_t, std::unique_ptr<ProxyWait>> proxy_waits_;  // -haproxy: header not read yet
  std::unordered_map<pid_t, Child> children_;
  std::unordered_map<pid_t, uint64_t> helper_pids_;  // lookup helpers not yet reaped
  std::unordered_map<IpAddress, int, IpAddressHash> ip_count_;
  std::unordered_map<IpAddress, HostCacheEntry, IpAddressHash> local_host_cache_;

  pid_t logger_pid_ = -1;
  std::chrono::steady_clock::time_point logger_started_{};

  std::chrono::steady_clock::time_point last_full_log_{}, last_warn_log_{}, last_limit_log_{}, last_deny_log_{},
      last_accept_err_log_{}, last_spawn_err_log_{}, last_proxy_log_{}, last_helper_log_{};
};

}  // namespace tcpd
