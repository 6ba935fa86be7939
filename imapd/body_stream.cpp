// imapd/body_stream.cpp: see body_stream.hpp.
#include "imapd/body_stream.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>


namespace imapd {

void CrlfConverter::convert(std::string_view in, std::string& out) {
  const char* p = in.data();
  const char* end = p + in.size();
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (!nl) {
      out.append(p, static_cast<std::size_t>(end - p));
      prev_cr_ = end[-1] == '\r';
      return;
    }
    const bool has_cr = nl > p ? nl[-1] == '\r' : prev_cr_;
    out.append(p, static_cast<std::size_t>(nl - p));
    out.append(has_cr ? "\n" : "\r\n", has_cr ? 1 : 2);
    prev_cr_ = false;
    p = nl + 1;
  }
}

std::uint64_t CrlfConverter::measure(std::string_view in) {
  std::uint64_t n = in.size();
  const char* p = in.data();
  const char* end = p + in.size();
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (!nl) {
      prev_cr_ = end[-1] == '\r';
      return n;
    }
    if (!(nl > p ? nl[-1] == '\r' : prev_cr_)) ++n;
    prev_cr_ = false;
    p = nl + 1;
  }
  return n;
}

namespace {

// Reads up to `want` bytes at `offset` into buf (resized to what came).
lib::Result<void> read_at(int fd, const std::string& path, std::uint64_t offset, std::size_t want,
                          std::string& buf) {
  buf.resize(want);
  std::size_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(fd, buf.data() + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error("cannot read " + path + ": " + lib::errno_text(errno));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  return {};
}

lib::Error changed(const std::string& path) {
  return lib::temporary_error(path + " changed while it was being sent (shorter than when opened)");
}

// Sending an in-place range of this size or more uses sendfile.
constexpr std::uint64_t kSendfileBytes = 64 * 1024;

}  // namespace

lib::Result<std::uint64_t> measure_crlf_size(int fd, const std::string& path, std::uint64_t file_size,
                                             BodyStreamBuffers& buffers, bool& whole) {
  CrlfConverter c;
  whole = file_size <= BodyStreamBuffers::chunk_bytes;
  std::uint64_t size = 0;
  for (std::uint64_t off = 0; off < file_size;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(file_size - off, BodyStreamBuffers::chunk_bytes));
    auto r = read_at(fd, path, off, want, buffers.read);
    if (!r) return r.error();
    if (buffers.read.size() < want) return changed(path);
    size += c.measure(buffers.read);
    off += want;
  }
  if (file_size == 0) buffers.read.clear();
  return size;
}

lib::Result<void> stream_crlf_range(int fd, const std::string& path, std::uint64_t file_size,
                                    std::uint64_t crlf_size, std::uint64_t origin, std::uint64_t count,
                                    bool whole, BodyStreamBuffers& buffers, lib::io::Writer& out) {
  if (count == 0) return {};
  const std::uint64_t stop = origin + count;
  if (crlf_size == file_size) {  // already CRLF: the range is the file's own bytes
    if (whole) {
      out.append(std::string_view(buffers.read).substr(origin, count));
      return {};
    }
    if (count >= kSendfileBytes) return out.send_file(fd, static_cast<off_t>(origin), count);
    for (std::uint64_t off = origin; off < stop;) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(stop - off, BodyStreamBuffers::chunk_bytes));
      auto r = read_at(fd, path, off, want, buffers.read);
      if (!r) return r;
      if (buffers.read.size() < want) return changed(path);
      out.append(buffers.read);
      off += want;
    }
    return {};
  }
  CrlfConverter c;
  std::uint64_t pos = 0;  // CRLF offset of the first byte of buffers.stage
  for (std::uint64_t off = 0; off < file_size && pos < stop;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(file_size - off, BodyStreamBuffers::chunk_bytes));
    if (!whole) {
      auto r = read_at(fd, path, off, want, buffers.read);
      if (!r) return r;
      if (buffers.read.size() < want) return changed(path);
    }
    buffers.stage.clear();
    c.convert(std::string_view(buffers.read).substr(0, want), buffers.stage);
    const std::uint64_t end = pos + buffers.stage.size();
    if (end > origin) {
      const std::uint64_t from = std::max(origin, pos) - pos;
      const std::uint64_t to = std::min(stop, end) - pos;
      out.append(std::string_view(buffers.stage).substr(from, to - from));
    }
    pos = end;
    off += want;
  }
  if (pos < stop) return changed(path);
  return {};
}

}  // namespace imapd
