// tls/ticket_keys.hpp: session resumption across processes. couriertls is one
// process per connection, so an in-memory session cache never sees a second
// connection; session tickets (RFC 5077; RFC 8446 section 4.6.1 for TLS 1.3)
// resume across processes when all of them encrypt tickets with the same keys.
// Those keys live in TLS_CACHEFILE (Courier's name for its shared session
// cache file), created on first use:
//
//   file: mode 600, owned by the user that runs couriertls, one line per key,
//         current key first, the previous one second (tickets made just before
//         a rotation still resume):
//           v1 <created, unix seconds> <name, 32 hex> <AES-256 key, 64 hex> <HMAC key, 64 hex>
//   rotation: the first process that finds the current key older than
//         ticket_key_rotation_s writes a new current key (flock LOCK_EX, then
//         rewritten in place, so readers holding LOCK_SH never see half a file).
//
// SECURITY: whoever can write the file can forge tickets, and a ticket carries
// the session's verified client certificate (SASL EXTERNAL). A file that is not
// a regular file owned by us with no group/other permissions is never used.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace tls {

inline constexpr time_t ticket_key_rotation_s = 12 * 3600;

struct TicketKey {
  time_t created = 0;
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> aes_key{};
  std::array<unsigned char, 32> hmac_key{};
};

// Parses the file's text. Lines that are not well-formed keys are an error
// (the caller then writes a fresh file). At most two keys are kept.
lib::Result<std::vector<TicketKey>> parse_ticket_keys(std::string_view text);
std::string format_ticket_keys(const std::vector<TicketKey>& keys);

// Loads the keys from path, creating or rotating them as described above.
// Errors (the caller logs a warning and serves without resumption): the folder
// does not exist or is not writable, the file has unsafe ownership or mode.
lib::Result<std::vector<TicketKey>> load_ticket_keys(const std::string& path, time_t now);

}  // namespace tls
