// lib/atomic_file.hpp: replacing a file's content atomically and durably.
//
// The one way the suite rewrites a small state file (courierimapuiddb,
// courierimapkeywords, courierimapsubscribed, courierpop3dsizelist,
// maildirsize, dhparams.pem, userdb): readers see the old content or the new
// one, whole, never half of one, and after a crash never an empty file.
//
//   step                              on failure
//   create the temporary file         error naming it; nothing else changed
//   write all of the content          temporary file removed
//   fsync the file, check close()     temporary file removed
//   rename it over the target         temporary file removed
//   fsync the directory               the new content is in place but may not
//                                     survive a crash: reported as an error
//
// Errors name the file, the errno text and, for the usual causes (EACCES,
// ENOSPC, ENOENT, EROFS), the fix. Their kind is AtomicFileOptions::kind
// (temporary unless the caller says otherwise, or classify() decides).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace lib {

struct AtomicFileOptions {
  // Where the content is written first. It must be on the file system of the
  // target (the rename is atomic only there). Empty: "<dir>/.tmp.<name>.<pid>"
  // beside the target. A stale file of that name is removed first, so the
  // name must be unique to this process or guarded by the caller's lock.
  std::string temp_path;
  // The mode of the new file, whatever the umask says.
  mode_t mode = 0600;
  // The kind of every error, unless classify is set (it gets the errno).
  ErrorKind kind = ErrorKind::temporary;
  std::function<ErrorKind(int err)> classify;
  // Said after the errno text for EACCES/EPERM instead of the generic
  // "check the owner and permissions of <dir> (this process runs as uid N)".
  std::string denied_hint;
  // commit() keeps the descriptor open (read-write) and returns it, for a
  // caller that goes on appending to the file now in place (maildirsize).
  bool keep_open = false;
  // false: commit() skips both fsyncs (of the file and of the directory).
  // Readers still see the old content or the new, whole (rename); after a
  // crash of the machine (not of the process) the file may hold an older
  // version, or on some file systems be empty. Only for files the caller can
  // rebuild or whose loss it detects (imapd-recent, imapd-cache, the state
  // files imapd guards by a durable reservation: README.md, "What survives
  // a power loss").
  bool durable = true;
};

// A temporary file that becomes `path` on commit(). Removed by the destructor
// when not committed.
class AtomicFile {
 public:
  // Creates the temporary file (O_EXCL, O_NOFOLLOW; opened read-write).
  static Result<AtomicFile> create(const std::string& path, AtomicFileOptions options = {});

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  int fd() const noexcept { return fd_.get(); }
  const std::string& path() const noexcept { return path_; }
  const std::string& temp_path() const noexcept { return temp_path_; }

  // Writes all of bytes (retrying EINTR and short writes).
  Result<void> write(std::string_view bytes);

  // fsync()s the file, closes it (checking close) unless keep_open, renames
  // it over path() and fsync()s the directory (no fsyncs unless durable). Returns the open descriptor
  // with keep_open, else an empty UniqueFd. On failure the temporary file is
  // removed (unless only the directory fsync failed: the rename is done).
  Result<UniqueFd> commit();

  // The error for "<what> <file>: <errno text>[; <fix>]", with the kind the
  // options give; for a writer callback's own failures.
  Error error(std::string_view what, const std::string& file, int err) const;

 private:
  AtomicFile(std::string path, AtomicFileOptions options, UniqueFd fd);
  void discard() noexcept;

  std::string path_;
  std::string temp_path_;
  AtomicFileOptions options_;
  UniqueFd fd_;
  bool done_ = false;
};

// Replaces path's content with bytes (create, write, commit).
Result<void> write_file_atomically(const std::string& path, std::string_view bytes,
                                   const AtomicFileOptions& options = {});

// Same, with the content written by writer (through file.write() or file.fd();
// fchown() and the like go here too). A failed writer leaves path untouched.
Result<void> write_file_atomically(const std::string& path,
                                   const std::function<Result<void>(AtomicFile& file)>& writer,
                                   const AtomicFileOptions& options = {});

// fsync() of a directory, so that a rename, link or create in it survives a
// crash. File systems that cannot fsync a directory (EINVAL) make metadata
// durable by other means: that is success. Errors are temporary.
Result<void> fsync_directory(const std::string& dir);

// The directory holding path ("." for a bare name, "/" for "/x").
std::string parent_directory(const std::string& path);

}  // namespace lib
