// tcpd/lookup_helper.hpp: couriertcpd's per-connection lookup helper, the
// process that parses what the network says about a connection so that the
// daemon, which stays root to start root login programs, does not.
//
// For a connection that needs any of them, the daemon forks a helper, which
// reads its configuration (resolv.conf) and then drops to the mail user
// (lib::drop_privileges; when the daemon is not root it stays who it is) and
// only then: reads the PROXY v1 header from the socket (-haproxy), looks up
// the ident user id, the host names of both ends (PTR, then A/AAAA back),
// and the -block/-allow lists, all at once on its own event loop, bounded by
// the same deadlines as before; writes the result in the fixed format of
// tcpd/lookup_result.hpp to a pipe; and exits. The daemon validates that
// result strictly and starts the program as before. A helper that dies, or
// sends anything else, costs only its own connection, which is closed with
// a log line.
//
// SECURITY: the helper runs as the mail user with no supplementary groups;
// it holds its own client socket (for the PROXY header) and the pipe, and no
// other descriptor of the daemon.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "lib/privileges.hpp"
#include "lib/result.hpp"
#include "lib/unique_fd.hpp"
#include "tcpd/address.hpp"
#include "tcpd/options.hpp"
#include "tcpd/resolver.hpp"

namespace tcpd {

// What one helper is to find out.
struct LookupTask {
  bool read_proxy = false;  // -haproxy: the header comes first, and its addresses replace these
  IpAddress remote, local;  // the socket's own addresses
  uint16_t remote_port = 0, local_port = 0;
  std::vector<bool> skip_blocklist;  // per option: its variable is already set
  // The daemon's cache of local host names: nullopt when not cached, else
  // the cached answer (a name, or none).
  std::function<std::optional<std::optional<std::string>>(const IpAddress&)> cached_local_host;
};

// The resolver settings couriertcpd's options ask for.
ResolverConfig resolver_config(const Options& opts);

// Whether a connection needs a helper at all: -haproxy, or any lookup that
// could run for it (ident only for a connection that is not proxied).
bool needs_lookup_helper(const Options& opts, bool proxied, const std::vector<bool>& skip_blocklist);

struct StartedHelper {
  pid_t pid = -1;
  lib::UniqueFd result;  // the read end of its pipe (non-blocking, close-on-exec)
};

// Forks the helper for the connection on socket_fd. drop_to: whom it becomes
// (nullopt: stay this uid, as when the daemon is not root). Errors: pipe or
// fork failed (the text names which and errno).
lib::Result<StartedHelper> start_lookup_helper(const Options& opts, const LookupTask& task, int socket_fd,
                                               const std::optional<lib::Identity>& drop_to);

}  // namespace tcpd
