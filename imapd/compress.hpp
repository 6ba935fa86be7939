// imapd/compress.hpp: COMPRESS=DEFLATE (RFC 4978). After "a COMPRESS
// DEFLATE" and its tagged OK, both directions of the connection are raw
// DEFLATE streams (RFC 1951, no zlib header). imapd keeps reading fd 0 and
// writing fd 1: start_deflate_relay() puts one end of a socket pair there
// and forks a relay (running as the account, like imapd) that inflates what
// the client sends and deflates, with a sync flush per write, what imapd
// answers. The relay ends when either side closes.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "lib/result.hpp"

struct z_stream_s;

namespace imapd {

// One zlib stream, raw DEFLATE, owned (deflateEnd/inflateEnd on destruction).
class ZStream {
 public:
  enum class Mode { deflate, inflate };
  // Errors: zlib refused to start (out of memory).
  static lib::Result<ZStream> create(Mode mode);
  ZStream(ZStream&&) noexcept;
  ZStream& operator=(ZStream&&) noexcept;
  ~ZStream();

  // deflate: compresses `in` and appends it, sync-flushed (the peer can
  // decode everything so far), to `out`. inflate: appends the decompressed
  // bytes of `in` to `out`. Errors: corrupt input (inflate), or the stream
  // ended (a final block) and more came.
  lib::Result<void> process(std::string_view in, std::string& out);

 private:
  ZStream(std::unique_ptr<z_stream_s> s, Mode mode);
  void end() noexcept;
  std::unique_ptr<z_stream_s> s_;
  Mode mode_ = Mode::deflate;
};

// Puts the relay between the client (client_in, client_out: fd 0 and 1) and
// this process: afterwards those descriptor numbers are the plain side.
// Call with nothing buffered in either direction.
lib::Result<void> start_deflate_relay(int client_in, int client_out);

}  // namespace imapd
