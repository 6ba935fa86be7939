// imapd/body_stream.hpp: FETCH BODY[]/RFC822 of a whole message streamed from
// its file (issue 15 item 3): the literal's framing is written by the session,
// the bytes come from the file in large chunks, never read whole into memory.
//
// Maildir files usually have LF line ends; IMAP sends every bare LF as CRLF
// (imapd/fetch.hpp, "Line ends"). CrlfConverter does that conversion chunk by
// chunk with the same result as to_crlf() of the whole file. A file whose
// CRLF size equals its size needs no conversion: its bytes go out with
// sendfile(2) (lib::io::Writer::send_file) when the range is large, or are
// read exactly (pread of the range, not a prefix).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/io.hpp"
#include "lib/result.hpp"

namespace imapd {

// Chunked LF -> CRLF: an LF not preceded by CR becomes CRLF, bare CRs stay.
// The one byte of state is whether the previous chunk ended with CR.
class CrlfConverter {
 public:
  // Appends the CRLF form of `in` (the next bytes of the file) to `out`.
  void convert(std::string_view in, std::string& out);
  // The CRLF size of `in` (the next bytes of the file), as convert() would add.
  std::uint64_t measure(std::string_view in);
  void reset() { prev_cr_ = false; }

 private:
  bool prev_cr_ = false;
};

// Buffers a session keeps between messages so a bulk FETCH allocates nothing
// per message: `read` holds one chunk of the file, `stage` the converted bytes
// waiting to be handed to the writer. Both stay at most chunk_bytes (+ the
// CRs added), whatever the message size.
struct BodyStreamBuffers {
  static constexpr std::size_t chunk_bytes = 256 * 1024;
  std::string read;
  std::string stage;
};

// The CRLF size of the file open on `fd` (st_size `file_size`). Small files
// (at most chunk_bytes) are read once into buffers.read and stay there:
// `whole` is set, and stream_crlf_range() then reuses them without a second read.
lib::Result<std::uint64_t> measure_crlf_size(int fd, const std::string& path, std::uint64_t file_size,
                                             BodyStreamBuffers& buffers, bool& whole);

// Writes bytes [origin, origin + count) of the CRLF form of the file open on
// `fd` to `out` (the caller has checked origin + count <= the CRLF size).
// `crlf_size == file_size`: no conversion, exact reads or sendfile; otherwise
// converted chunk by chunk from the start (bytes before `origin` are
// converted and dropped: the CRLF offset of a raw byte is only known by
// counting the LFs before it). `whole`: buffers.read already holds the file.
// Errors: a read fails or the file is shorter than file_size (it changed).
lib::Result<void> stream_crlf_range(int fd, const std::string& path, std::uint64_t file_size,
                                    std::uint64_t crlf_size, std::uint64_t origin, std::uint64_t count,
                                    bool whole, BodyStreamBuffers& buffers, lib::io::Writer& out);

}  // namespace imapd
