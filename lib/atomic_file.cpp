// lib/atomic_file.cpp: see atomic_file.hpp.
#include "lib/atomic_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace lib {
namespace {

// Advice for the usual reasons a write in dir fails.
std::string fix_for(int err, const std::string& dir, const std::string& denied_hint) {
  switch (err) {
    case EACCES:
    case EPERM:
      if (!denied_hint.empty()) return denied_hint;
      return "check the owner and permissions of " + dir + " (this process runs as uid " +
             std::to_string(::geteuid()) + ")";
    case ENOSPC:
      return "free space on the file system holding " + dir;
    case EDQUOT:
      return "the file system quota of uid " + std::to_string(::geteuid()) + " is exhausted";
    case EROFS:
      return "the file system holding " + dir + " is mounted read-only";
    case ENOENT:
    case ENOTDIR:
      return "check that the directory " + dir + " exists";
    default:
      return {};
  }
}

}  // namespace

std::string parent_directory(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<void> fsync_directory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    return temporary_error("cannot open directory " + dir + ": " + errno_text(err));
  }
  // Some file systems cannot fsync a directory (EINVAL); they make metadata
  // durable by other means, so that is not a failure.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) {
    int err = errno;
    return temporary_error("cannot fsync directory " + dir + ": " + errno_text(err));
  }
  return {};
}

AtomicFile::AtomicFile(std::string path, AtomicFileOptions options, UniqueFd fd)
    : path_(std::move(path)),
      temp_path_(options.temp_path),
      options_(std::move(options)),
      fd_(std::move(fd)) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      options_(std::move(other.options_)),
      fd_(std::move(other.fd_)),
      done_(std::exchange(other.done_, true)) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    discard();
    path_ = std::move(other.path_);
    temp_path_ = std::move(other.temp_path_);
    options_ = std::move(other.options_);
    fd_ = std::move(other.fd_);
    done_ = std::exchange(other.done_, true);
  }
  return *this;
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
  if (done_) return;
  done_ = true;
  fd_.reset();
  ::unlink(temp_path_.c_str());
}

Error AtomicFile::error(std::string_view what, const std::string& file, int err) const {
  std::string m;
  m.append(what).append(" ").append(file).append(": ").append(errno_text(err));
  std::string fix = fix_for(err, parent_directory(path_), options_.denied_hint);
  if (!fix.empty()) m.append("; ").append(fix);
  ErrorKind kind = options_.classify ? options_.classify(err) : options_.kind;
  return Error{kind, std::move(m)};
}

Result<AtomicFile> AtomicFile::create(const std::string& path, AtomicFileOptions options) {
  if (options.temp_path.empty()) {
    std::string dir = parent_directory(path);
    std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    options.temp_path = (dir == "/" ? "" : dir) + "/.tmp." + name + "." + std::to_string(::getpid());
  }
  mode_t mode = options.mode;
  const auto create = [&] {
    return UniqueFd(::open(options.temp_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  };
  UniqueFd fd = create();
  if (!fd && errno == EEXIST) {  // left by a crash (of a process with our pid)
    ::unlink(options.temp_path.c_str());
    fd = create();
  }
  AtomicFile file(path, std::move(options), std::move(fd));
  if (!file.fd_) {
    int err = errno;
    file.done_ = true;  // nothing of ours to remove
    return file.error("cannot create", file.temp_path_, err);
  }
  if (::fchmod(file.fd(), mode) != 0) return file.error("cannot set the mode of", file.temp_path_, errno);
  return file;
}

Result<void> AtomicFile::write(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return error("cannot write", temp_path_, errno);
    }
    if (n == 0) return error("cannot write", temp_path_, ENOSPC);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<UniqueFd> AtomicFile::commit() {
  // Durable before the rename: after a crash the target holds the old content
  // or the new, never an empty file.
  if (options_.durable && ::fsync(fd_.get()) != 0)
    return error("cannot write to disk (fsync)", temp_path_, errno);
  if (!options_.keep_open && ::close(fd_.release()) != 0) return error("cannot write", temp_path_, errno);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
    return error("cannot rename " + temp_path_ + " to", path_, errno);
  done_ = true;
  if (!options_.durable) return std::move(fd_);
  if (auto r = fsync_directory(parent_directory(path_)); !r) return r.error();
  return std::move(fd_);
}

Result<void> write_file_atomically(const std::string& path, std::string_view bytes,
                                   const AtomicFileOptions& options) {
  return write_file_atomically(
      path, [bytes](AtomicFile& file) { return file.write(bytes); }, options);
}

Result<void> write_file_atomically(const std::string& path,
                                   const std::function<Result<void>(AtomicFile& file)>& writer,
                                   const AtomicFileOptions& options) {
  auto file = AtomicFile::create(path, options);
  if (!file) return file.error();
  if (auto r = writer(*file); !r) return r;
  auto done = file->commit();
  if (!done) return done.error();
  return {};
}

}  // namespace lib
