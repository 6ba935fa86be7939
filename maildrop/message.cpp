// maildrop/message.cpp: see message.hpp.
#include "maildrop/message.hpp"
#include "lib/ascii.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace maildrop {
namespace {

constexpr std::size_t chunk_bytes = 64 * 1024;

lib::Result<void> write_all(int fd, std::string_view data, const char* what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error(std::string("writing ") + what + ": " + lib::errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

lib::Result<lib::UniqueFd> make_temp_file(const std::vector<std::string>& dirs) {
  std::string why;
  for (const auto& dir : dirs) {
    if (dir.empty()) continue;
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return lib::UniqueFd(fd);
    int err = errno;
    if (err == EOPNOTSUPP || err == EISDIR || err == EINVAL) {
      std::string tmpl = dir + "/.maildrop.XXXXXX";
      fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
      if (fd >= 0) {
        ::unlink(tmpl.c_str());
        return lib::UniqueFd(fd);
      }
      err = errno;
    }
    why += (why.empty() ? "" : "; ") + dir + ": " + lib::errno_text(err);
  }
  return lib::temporary_error("cannot create a temporary file for the message (" + why +
                              "); check that the account can write to its Maildir/tmp");
}

std::vector<std::string> unfold_headers(std::string_view block) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < block.size()) {
    std::size_t nl = block.find('\n', pos);
    std::string_view line = block.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? block.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !out.empty()) {
      out.back() += line;  // folding: the line break goes, the white space stays
    } else {
      out.emplace_back(line);
    }
  }
  return out;
}

lib::Result<Message> Message::spool(int in_fd, const std::string& return_path_line,
                                    const std::vector<std::string>& added_headers,
                                    const std::vector<std::string>& spool_dirs, bool drop_return_path) {
  auto tmp = make_temp_file(spool_dirs);
  if (!tmp) return tmp.error();
  Message m;
  m.fd_ = std::move(*tmp);
  m.spool_dirs_ = spool_dirs;

  // 1. The header block (bounded), read in chunks until the blank line.
  std::string head;
  std::size_t header_end = std::string::npos;  // just past the blank line
  char buf[chunk_bytes];
  bool eof = false;
  while (header_end == std::string::npos && head.size() < max_header_bytes) {
    ssize_t n = ::read(in_fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error("reading the message from standard input: " + lib::errno_text(errno));
    }
    if (n == 0) {
      eof = true;
      break;
    }
    std::size_t scan_from = head.size() >= 3 ? head.size() - 3 : 0;
    head.append(buf, static_cast<std::size_t>(n));
    if (head.compare(0, 1, "\n") == 0) header_end = 1;
    else if (head.compare(0, 2, "\r\n") == 0) header_end = 2;
    for (std::size_t i = scan_from; header_end == std::string::npos && i < head.size(); ++i) {
      if (head[i] != '\n') continue;
      if (i + 1 < head.size() && head[i + 1] == '\n') header_end = i + 2;
      else if (i + 2 < head.size() && head[i + 1] == '\r' && head[i + 2] == '\n') header_end = i + 3;
    }
  }
  std::string_view hv(head);
  std::string_view header_block = header_end == std::string::npos ? (eof ? hv : std::string_view()) : hv.substr(0, header_end);
  std::string_view rest = hv.substr(header_block.size());
  // An mbox "From " line is not part of the message.
  if (header_block.substr(0, 5) == "From ") {
    auto nl = header_block.find('\n');
    header_block.remove_prefix(nl == std::string_view::npos ? header_block.size() : nl + 1);
  }
  std::string out;
  if (!return_path_line.empty()) out += return_path_line + "\n";
  m.forward_offset_ = out.size();
  for (const auto& h : added_headers) out += h + "\n";
  // Copy the header lines, leaving out Return-Path fields (with continuations).
  std::size_t pos = 0;
  bool skipping = false;
  while (pos < header_block.size()) {
    std::size_t nl = header_block.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? header_block.size() : nl + 1;
    std::string_view line = header_block.substr(pos, end - pos);
    pos = end;
    bool cont = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (!cont) skipping = drop_return_path && lib::ascii::istarts_with(line, "Return-Path:");
    if (!skipping) out += line;
  }
  m.headers_ = unfold_headers(out);
  m.body_offset_ = out.size();
  out += rest;
  auto count_lines = [&m](std::string_view s) {
    for (char c : s) m.lines_ += c == '\n';
  };
  count_lines(out);
  if (auto w = write_all(m.fd_.get(), out, "the message to its temporary file"); !w) return w.error();
  m.size_ = out.size();
  // 2. The rest of the message, in chunks (never all in memory).
  while (!eof) {
    ssize_t n = ::read(in_fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error("reading the message from standard input: " + lib::errno_text(errno));
    }
    if (n == 0) break;
    std::string_view piece(buf, static_cast<std::size_t>(n));
    count_lines(piece);
    if (auto w = write_all(m.fd_.get(), piece, "the message to its temporary file"); !w) return w.error();
    m.size_ += piece.size();
  }
  return m;
}

lib::Result<void> Message::rewind(std::uint64_t offset) const {
  if (::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_SET) < 0)
    return lib::temporary_error("seeking in the message's temporary file: " + lib::errno_text(errno));
  return {};
}

lib::Result<void> Message::for_each_body_line(const std::function<bool(std::string_view)>& fn) const {
  std::string line;
  char buf[chunk_bytes];
  off_t off = static_cast<off_t>(body_offset_);
  while (true) {
    ssize_t n = ::pread(fd_.get(), buf, sizeof buf, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return lib::temporary_error("reading the message's temporary file: " + lib::errno_text(errno));
    }
    if (n == 0) break;
    off += n;
    std::string_view piece(buf, static_cast<std::size_t>(n));
    while (!piece.empty()) {
      auto nl = piece.find('\n');
      if (nl == std::string_view::npos) {
        line += piece;
        if (line.size() >= max_line_bytes) {
          if (!fn(line)) return {};
          line.clear();
        }
        break;
      }
      line += piece.substr(0, nl);
      piece.remove_prefix(nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!fn(line)) return {};
      line.clear();
    }
  }
  if (!line.empty()) fn(line);
  return {};
}

}  // namespace maildrop
