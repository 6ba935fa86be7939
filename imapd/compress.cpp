// imapd/compress.cpp: COMPRESS=DEFLATE (see compress.hpp).
#include "imapd/compress.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>

#include "imapd/zlib_library.hpp"
#include "lib/io.hpp"
#include "lib/log.hpp"

namespace imapd {

ZStream::ZStream(std::unique_ptr<z_stream_s> s, Mode mode) : s_(std::move(s)), mode_(mode) {}
ZStream::ZStream(ZStream&& o) noexcept : s_(std::move(o.s_)), mode_(o.mode_) {}
ZStream& ZStream::operator=(ZStream&& o) noexcept {
  if (this != &o) {
    end();
    s_ = std::move(o.s_);
    mode_ = o.mode_;
  }
  return *this;
}
ZStream::~ZStream() { end(); }

void ZStream::end() noexcept {
  if (!s_) return;
  const Zlib& z = **zlib();  // loaded: create() made s_
  if (mode_ == Mode::deflate)
    z.deflate_end(s_.get());
  else
    z.inflate_end(s_.get());
  s_.reset();
}

lib::Result<ZStream> ZStream::create(Mode mode) {
  auto lz = zlib();
  if (!lz) return lz.error();
  const Zlib& z = **lz;
  auto s = std::make_unique<z_stream_s>();
  // windowBits -15: raw DEFLATE (RFC 4978 4), no zlib header or checksum.
  // (deflateInit2 and inflateInit2 are these calls, as <zlib.h> defines them.)
  int rc = mode == Mode::deflate
               ? z.deflate_init(s.get(), Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                                static_cast<int>(sizeof(z_stream)))
               : z.inflate_init(s.get(), -15, ZLIB_VERSION, static_cast<int>(sizeof(z_stream)));
  if (rc != Z_OK) return lib::temporary_error(std::string("COMPRESS: zlib cannot start a stream: ") + z.error_text(rc));
  return ZStream(std::move(s), mode);
}

lib::Result<void> ZStream::process(std::string_view in, std::string& out) {
  const Zlib& lz = **zlib();  // loaded: create() made s_
  z_stream_s& z = *s_;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  unsigned char buf[16384];
  for (;;) {
    z.next_out = buf;
    z.avail_out = sizeof buf;
    int rc = mode_ == Mode::deflate ? lz.deflate(&z, Z_SYNC_FLUSH) : lz.inflate(&z, Z_SYNC_FLUSH);
    out.append(reinterpret_cast<char*>(buf), sizeof buf - z.avail_out);
    if (rc == Z_STREAM_END) {
      if (z.avail_in != 0) return lib::permanent_error("COMPRESS: data after the end of the DEFLATE stream");
      return {};
    }
    if (rc == Z_BUF_ERROR) return {};  // no progress possible: all input used, all output out
    if (rc != Z_OK) return lib::permanent_error(std::string("COMPRESS: corrupt DEFLATE data: ") +
                                                (z.msg ? z.msg : lz.error_text(rc)));
    if (z.avail_in == 0 && z.avail_out != 0) return {};
  }
}

namespace {

// The relay's loop; returns when a side closes or fails.
void relay(int client_in, int client_out, int inner) {
  auto in = ZStream::create(ZStream::Mode::inflate);
  auto out = ZStream::create(ZStream::Mode::deflate);
  if (!in || !out) {
    lib::log::error("%s", (!in ? in.error() : out.error()).message.c_str());
    return;
  }
  // Writes with the suite's deadlines: a peer that stops reading for
  // write_timeout_ms ends the relay.
  lib::io::Writer to_inner(inner), to_client(client_out);
  char buf[65536];
  std::string converted;
  for (;;) {
    pollfd fds[2] = {{client_in, POLLIN, 0}, {inner, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int k = 0; k < 2; ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[k].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      converted.clear();
      auto r = (k == 0 ? *in : *out).process(std::string_view(buf, static_cast<std::size_t>(n)), converted);
      if (!r) {
        lib::log::info("%s", r.error().message.c_str());
        return;
      }
      if (!(k == 0 ? to_inner : to_client).write_now(converted)) return;
    }
  }
}

}  // namespace

lib::Result<void> start_deflate_relay(int client_in, int client_out) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return lib::temporary_error("COMPRESS: socketpair: " + lib::errno_text(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return lib::temporary_error("COMPRESS: fork: " + lib::errno_text(e));
  }
  if (pid == 0) {
    ::close(sv[0]);
    relay(client_in, client_out, sv[1]);
    ::_exit(0);
  }
  ::close(sv[1]);
  // The session's client fds become the plain side (not close-on-exec, as before).
  if (::dup2(sv[0], client_in) < 0 || ::dup2(sv[0], client_out) < 0) {
    int e = errno;
    ::close(sv[0]);
    return lib::permanent_error("COMPRESS: dup2: " + lib::errno_text(e));
  }
  ::close(sv[0]);
  return {};
}

}  // namespace imapd
