// imapd/cmd_compress.cpp: COMPRESS DEFLATE (RFC 4978); the relay is in
// imapd/compress.hpp. The tagged OK goes out uncompressed; the session loop
// then calls start_compress() and everything after it is compressed.
#include "imapd/compress.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "imapd/zlib_library.hpp"
#include "lib/log.hpp"

namespace imapd {

Completion Session::cmd_compress(const ParsedCommand& c) {
  if (c.args.size() != 1 || !c.args[0].is_atom_like()) return {"BAD", "Syntax: COMPRESS DEFLATE"};
  if (!settings_.compress) return {"BAD", "COMPRESS is turned off on this server."};
  if (!c.args[0].is_word("DEFLATE")) return {"BAD", "Unknown compression mechanism; DEFLATE is supported."};
  if (compress_active_) return {"NO", "[COMPRESSIONACTIVE] DEFLATE is already active."};
  // Bytes after the command were sent before our OK: RFC 4978 3 forbids it,
  // and they could not be told apart from compressed ones.
  if (in_.buffered() != 0) return {"BAD", "Send nothing after COMPRESS until its reply."};
  // zlib is loaded on first use (imapd/zlib_library.hpp): a missing library is a NO now,
  // not a relay that dies after the OK.
  if (auto z = zlib(); !z) {
    lib::log::error("user=%s: %s", login_.c_str(), z.error().message.c_str());
    return {"NO", "[UNAVAILABLE] COMPRESS is not available on this server now."};
  }
  compress_pending_ = true;
  return {"OK", "DEFLATE active."};
}

bool Session::start_compress() {
  compress_pending_ = false;
  auto r = start_deflate_relay(in_.fd(), out_.fd());
  if (!r) {
    lib::log::error("user=%s: %s", login_.c_str(), r.error().message.c_str());
    return false;
  }
  compress_active_ = true;
  lib::log::info("user=%s: COMPRESS=DEFLATE active", login_.c_str());
  return true;
}

}  // namespace imapd
