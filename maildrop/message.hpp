// maildrop/message.hpp: the message being delivered, spooled once to an
// unlinked temporary file so that a 50 MB message never sits in memory; only
// its header block is kept (parsed, for the filter's patterns).
// SECURITY: the message is untrusted input; header bytes are limited
// (max_header_bytes), the body is only ever read in bounded chunks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace maildrop {

inline constexpr std::size_t max_header_bytes = 1024 * 1024;  // more is treated as body
inline constexpr std::size_t max_line_bytes = 1024 * 1024;    // longer body lines are split for matching

class Message {
 public:
  // Copies in_fd to EOF into an O_TMPFILE in the first usable directory of
  // spool_dirs, with added_headers (each "Name: value", no line end) first.
  // An mbox "From " first line is dropped; with drop_return_path the
  // message's own Return-Path: fields are dropped (ours replaces them).
  // return_path_line, when not empty, goes first and can be skipped when
  // forwarding (body_for_forward_offset).
  static lib::Result<Message> spool(int in_fd, const std::string& return_path_line,
                                    const std::vector<std::string>& added_headers,
                                    const std::vector<std::string>& spool_dirs, bool drop_return_path);

  int fd() const { return fd_.get(); }
  // Positions fd() at offset (0: the whole message) for a reader that reads to EOF.
  lib::Result<void> rewind(std::uint64_t offset = 0) const;
  std::uint64_t size() const { return size_; }
  std::uint64_t lines() const { return lines_; }
  std::uint64_t forward_offset() const { return forward_offset_; }
  std::uint64_t body_offset() const { return body_offset_; }
  // Header fields unfolded into one line each ("Subject: hello world").
  const std::vector<std::string>& headers() const { return headers_; }
  // Calls fn for every body line (line end removed) until it returns false.
  lib::Result<void> for_each_body_line(const std::function<bool(std::string_view)>& fn) const;
  const std::vector<std::string>& spool_dirs() const { return spool_dirs_; }

 private:
  lib::UniqueFd fd_;
  std::uint64_t size_ = 0, lines_ = 0, body_offset_ = 0, forward_offset_ = 0;
  std::vector<std::string> headers_;
  std::vector<std::string> spool_dirs_;
};

// An unlinked temporary file in the first usable directory (O_TMPFILE, or
// mkstemp + unlink where the file system lacks it).
lib::Result<lib::UniqueFd> make_temp_file(const std::vector<std::string>& dirs);

// Splits a header block into unfolded fields.
std::vector<std::string> unfold_headers(std::string_view header_block);

}  // namespace maildrop
