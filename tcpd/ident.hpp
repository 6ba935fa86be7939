// tcpd/ident.hpp: the Identification Protocol client (RFC 1413) behind
// TCPREMOTEINFO: ask the client host's port 113 who owns the connection.
//
// SECURITY: the reply comes from the client's host and is trusted for
// nothing; it is only passed on as TCPREMOTEINFO. It is read with a size
// limit and a deadline, and a user id with control characters is dropped.
// It is read in couriertcpd's lookup helper, as the mail user
// (tcpd/lookup_helper.hpp), never by the root daemon.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <event2/event.h>

#include "lib/event.hpp"
#include "lib/unique_fd.hpp"
#include "tcpd/address.hpp"

namespace tcpd {

inline constexpr size_t ident_max_reply_bytes = 1000;  // RFC 1413 replies are short lines
inline constexpr size_t ident_max_userid_bytes = 512;  // RFC 1413 section 6

// The query line: "<port on the ident server's host> , <port on ours>\r\n",
// that is the client's port first, then our local port.
std::string ident_query(uint16_t remote_port, uint16_t local_port);

// The user id in a reply line ("6193, 23 : USERID : UNIX : stjohns"), when
// the ports match the query and the reply is a USERID reply. nullopt for
// ERROR replies, other ports, malformed lines, or a user id that is empty,
// longer than ident_max_userid_bytes or holds control characters. Leading
// and trailing blanks of the user id are dropped.
std::optional<std::string> parse_ident_reply(std::string_view line, uint16_t remote_port, uint16_t local_port);

// One asynchronous ident lookup. The callback runs once from the event loop
// with the user id or nullopt (refused, timed out, error reply); destroying
// the object first cancels the lookup and the callback never runs.
class IdentLookup {
 public:
  using Callback = std::function<void(std::optional<std::string>)>;

  // Connects from local (port 0) to remote:ident_port. Returns nullptr when
  // the lookup cannot even start (the callback then never runs).
  static std::unique_ptr<IdentLookup> start(event_base* base, const IpAddress& local, uint16_t local_port,
                                            const IpAddress& remote, uint16_t remote_port, uint16_t ident_port,
                                            std::chrono::milliseconds timeout, Callback callback);
  ~IdentLookup() = default;
  IdentLookup(const IdentLookup&) = delete;
  IdentLookup& operator=(const IdentLookup&) = delete;

 private:
  IdentLookup() = default;
  static void on_event(evutil_socket_t fd, short what, void* arg) noexcept;
  void finish(std::optional<std::string> result);

  lib::UniqueFd fd_;
  lib::Event event_;
  Callback callback_;
  std::string query_;
  std::string reply_;
  uint16_t remote_port_ = 0, local_port_ = 0;
  bool connected_ = false;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace tcpd
