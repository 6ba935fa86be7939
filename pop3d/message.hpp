// pop3d/message.hpp: a message file as POP3 sends it.
//
// RFC 1939 section 11: sizes count each line end as CRLF, not counting the
// dot-stuffing. Maildir files normally end lines with LF alone; RETR turns
// every LF and bare CR into CRLF (lib::io::Writer::append_dot_stuffed) and
// ends an unterminated last line with CRLF, so the POP3 size counts exactly
// that. For a file with LF line ends this equals Courier's calcsize(), so a
// size in a courierpop3dsizelist written by Courier stays right.
// TOP (RFC 1939 section 7): the header, the empty line, and the first n lines
// of the body.
#pragma once

#include <cstdint>
#include <string_view>

#include "lib/result.hpp"

namespace pop3d {

struct MessageMeasure {
  std::uint64_t pop3_size = 0;
  bool utf8_header = false;  // an 8-bit byte in the header (Courier's isutf8)
};

// Counts a message given in chunks, the way append_dot_stuffed sends it.
class SizeCounter {
 public:
  void feed(std::string_view chunk);
  // The result; call once, after the last chunk.
  MessageMeasure finish();

 private:
  std::uint64_t size_ = 0;
  bool line_start_ = true;   // nothing of the current line seen yet
  bool pending_cr_ = false;  // the previous chunk ended with CR
  bool in_header_ = true;
  bool header_line_empty_ = true;
  bool utf8_ = false;
};

// Reads fd from offset 0 to its end and measures it. Errors (read failures)
// are temporary and name `path`.
lib::Result<MessageMeasure> measure_file(int fd, const std::string& path);

// Picks the part of a message TOP sends: everything up to and including the
// empty line that ends the header, then `body_lines` lines of the body. A
// message without an empty line is all header. Feed chunks in order; each
// call returns how many bytes of the chunk to send (a prefix), and done()
// turns true once nothing more is wanted.
class TopFilter {
 public:
  explicit TopFilter(std::uint64_t body_lines) : lines_left_(body_lines) {}
  size_t take(std::string_view chunk);
  bool done() const { return done_; }

 private:
  std::uint64_t lines_left_;
  bool in_header_ = true;
  bool line_start_ = true;
  bool cr_at_line_start_ = false;  // header: a line that so far is just CR
  bool done_ = false;
};

}  // namespace pop3d
