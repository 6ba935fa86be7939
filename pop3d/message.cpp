// pop3d/message.cpp: see message.hpp.
#include "pop3d/message.hpp"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace pop3d {

void SizeCounter::feed(std::string_view chunk) {
  for (size_t i = 0; i < chunk.size(); ++i) {
    const char c = chunk[i];
    if (pending_cr_) {
      // CR then LF: one CRLF; CR then anything else: a bare CR, sent as CRLF.
      pending_cr_ = false;
      size_ += 2;
      if (in_header_ && header_line_empty_) in_header_ = false;
      header_line_empty_ = true;
      line_start_ = true;
      if (c == '\n') continue;
    }
    if (c == '\r') {
      pending_cr_ = true;
      continue;
    }
    if (c == '\n') {
      size_ += 2;
      if (in_header_ && header_line_empty_) in_header_ = false;
      header_line_empty_ = true;
      line_start_ = true;
      continue;
    }
    size_ += 1;
    line_start_ = false;
    header_line_empty_ = false;
    if (in_header_ && static_cast<unsigned char>(c) >= 0x80) utf8_ = true;
  }
}

MessageMeasure SizeCounter::finish() {
  if (pending_cr_) {
    size_ += 2;
    pending_cr_ = false;
    line_start_ = true;
  }
  // An unterminated last line gets a CRLF.
  if (!line_start_) size_ += 2;
  return MessageMeasure{size_, utf8_};
}

lib::Result<MessageMeasure> measure_file(int fd, const std::string& path) {
  SizeCounter counter;
  char buf[65536];
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error("cannot read " + path + ": " + lib::errno_text(errno));
    }
    if (n == 0) break;
    counter.feed(std::string_view(buf, static_cast<size_t>(n)));
    offset += n;
  }
  return counter.finish();
}

size_t TopFilter::take(std::string_view chunk) {
  if (done_) return 0;
  for (size_t i = 0; i < chunk.size(); ++i) {
    const char c = chunk[i];
    if (line_start_) {
      line_start_ = false;
      if (in_header_) {
        if (c == '\n') {
          in_header_ = false;  // the empty line: sent, then the body starts
          line_start_ = true;
          continue;
        }
        if (c == '\r') {
          cr_at_line_start_ = true;
          continue;
        }
      } else {
        if (lines_left_ == 0) {
          done_ = true;
          return i;
        }
        --lines_left_;
      }
    } else if (cr_at_line_start_) {
      cr_at_line_start_ = false;
      if (c == '\n') {
        in_header_ = false;  // "\r\n" alone: the empty line
        line_start_ = true;
        continue;
      }
    }
    if (c == '\n') line_start_ = true;
  }
  return chunk.size();
}

}  // namespace pop3d
