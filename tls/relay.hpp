// tls/relay.hpp: the copy loop of couriertls between a TLS connection and the
// plaintext side (a socketpair to the service, or stdin/stdout).
//
// One poll() loop, both sides non-blocking, one bounded buffer per direction
// (one TLS record, 16 KiB), so a side that stops reading stops the other side
// from being read: memory stays bounded whatever the peers do, and the loop
// sleeps in poll() whenever it cannot make progress (no busy loop).
// Half-close: when the TLS peer closes (close_notify or EOF), the plaintext
// side is shut down for writing, so the service sees EOF and may still answer;
// when the service closes its side, everything pending is sent, then a
// close_notify, and the relay ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "lib/result.hpp"
#include "tls/openssl_handles.hpp"

namespace tls {

inline constexpr size_t relay_buffer_bytes = 16 * 1024;

struct RelayOptions {
  // After the plaintext side has closed: how long pending data and the
  // close_notify may take to reach a TLS peer that does not read.
  std::chrono::milliseconds drain_timeout{30000};
  // After the plaintext side has closed and close_notify is sent, go on
  // reading from the TLS peer until it closes too (the debug client: stdin
  // ends long before the server's answers do). No drain timeout then.
  bool read_after_plain_eof = false;
};

struct RelayResult {
  uint64_t bytes_from_tls = 0;  // plaintext bytes the TLS peer sent
  uint64_t bytes_to_tls = 0;    // plaintext bytes sent to the TLS peer
  // How it ended, for a debug log line: "service closed", "client closed", ...
  std::string end;
};

// Relays until both directions are finished or one side fails. plain_in and
// plain_out may be the same descriptor (a socket) or two (stdin, stdout); all
// descriptors are made non-blocking. A failure of either side (reset, TLS
// error) is an error whose message says which side and why; the caller logs it
// at debug level, since peers hang up without ceremony all the time.
// The process must ignore SIGPIPE (OpenSSL writes with write(2)).
lib::Result<RelayResult> relay(SSL* ssl, int tls_fd, int plain_in, int plain_out,
                               const RelayOptions& options = {});

// Sets O_NONBLOCK on fd.
lib::Result<void> set_nonblocking(int fd);

}  // namespace tls
