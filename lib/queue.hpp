// lib/queue.hpp: the mail queue shared by the submitters (esmtpd, sendmail) and the
// readers (courierd, mailq). The one piece of code that writes, reads and appends to
// queue files; the format and its crash-safety invariant are in doc/queue.5 and
// /work/notes/QUEUE-SPEC.md.
//
//   QUEUEDIR/tmp/<qid>.data.tmp, <qid>.ctl.tmp   being written
//   QUEUEDIR/msgs/<qid>.data, <qid>.ctl          committed
//   QUEUEDIR/trigger                             FIFO read by courierd
//   QUEUEDIR/courierd.lock                       flock held by courierd
//
// Invariant: a message exists iff msgs/<qid>.ctl exists. Submission::commit makes it
// so with one fsync round: fsync data, fsync control, rename data, rename control,
// fsync msgs/. Only after commit() returns may the submitter acknowledge the message.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"
#include "lib/unique_fd.hpp"

namespace lib::queue {

// $COURIER_QUEUEDIR if set and not empty, else LOCALSTATEDIR "/spool/courier".
std::string queue_dir();

// Creates QUEUEDIR (mode 0750), tmp/ and msgs/ (0750) when missing. The trigger FIFO is
// courierd's to create. Errors name the folder and the errno text.
Result<void> ensure_layout(const std::string& dir);

// A fresh queue id: "<time hex>.<pid hex>.<counter hex>.<4 random hex>".
std::string new_qid();
// Whether text has the shape of a queue id (only [0-9a-f.], four fields).
bool valid_qid(std::string_view text);

// "msgs/<qid>.ctl" and "msgs/<qid>.data" under dir.
std::string control_path(const std::string& dir, std::string_view qid);
std::string data_path(const std::string& dir, std::string_view qid);

struct Recipient {
  std::string address;
  std::string orcpt;   // "type;addr" decoded, or empty
  std::string notify;  // "SUCCESS,FAILURE", "NEVER", or empty
};

enum class FinalKind { delivered, failed, relayed };
const char* kind_name(FinalKind kind);

// D record: the final outcome for one recipient.
struct Final {
  std::size_t rcpt = 0;
  std::time_t time = 0;
  FinalKind kind = FinalKind::delivered;
  std::string status;  // "2.0.0"
  std::string text;
};

// Y record: a deferral.
struct Deferral {
  std::size_t rcpt = 0;
  std::time_t time = 0;
  std::string status;
  std::string text;
};

struct Envelope {
  // Written once by the submitter.
  std::string qid;
  std::time_t accepted = 0;
  std::string sender;  // empty: the null sender <>
  std::optional<std::string> auth_user;
  std::string client;    // F: "helo (rdns [ip])" or "local uid N (user)"
  std::string protocol;  // ESMTP, ESMTPS, ESMTPA, ESMTPSA, LOCAL
  std::string body = "7BIT";  // 7BIT, 8BITMIME, BINARYMIME
  bool smtputf8 = false;
  std::optional<std::string> envid;
  std::optional<std::string> ret;  // FULL or HDRS
  std::uint64_t size = 0;
  std::vector<Recipient> recipients;

  // Appended by courierd.
  std::vector<Final> finals;
  std::vector<Deferral> deferrals;
  std::optional<std::time_t> warned;        // last W
  std::optional<std::time_t> next_attempt;  // last X
  std::optional<std::time_t> completed;     // C

  // The final outcome of recipient i, if any (the first D for it).
  const Final* final_for(std::size_t i) const;
  // Whether every recipient has a D record.
  bool all_final() const;
};

// The submitter's part of a control file (V, Q, T, S, A, F, P, B, U, E, N, Z, R...).
// Values must not hold LF (nor TAB where subfields are separated); such values are
// refused by commit() with a permanent error before anything is written.
std::string format_control(const Envelope& envelope);
// Checks the values format_control would write; the message names the field.
Result<void> check_envelope(const Envelope& envelope);

// Parses a control file's text. Strict: an unknown record letter, a malformed value or
// a missing required record is an error "<path>:<line>: ...". A final line without its
// LF (a torn append after a crash) is ignored.
Result<Envelope> parse_control(std::string_view text, const std::string& path);
// Reads and parses path.
Result<Envelope> read_control(const std::string& path);

// One appended record each, with its trailing LF.
std::string final_record(const Final& final);
std::string deferral_record(const Deferral& deferral);
std::string warned_record(std::time_t time);
std::string next_attempt_record(std::time_t time);
std::string completed_record(std::time_t time);

// Appends whole records (each ending in LF) to a control file with one write(2) in
// O_APPEND mode, then fdatasync. A short write is reported as a temporary error.
Result<void> append_records(const std::string& control_file, std::string_view records);

// A message being written. begin() creates tmp/<qid>.data.tmp; write() appends bytes
// (buffered); commit() stores the envelope and makes the message exist; the destructor
// of an uncommitted Submission removes its temporary files.
class Submission {
 public:
  static Result<Submission> begin(const std::string& dir);

  Submission(Submission&& other) noexcept;
  Submission& operator=(Submission&&) = delete;
  Submission(const Submission&) = delete;
  Submission& operator=(const Submission&) = delete;
  ~Submission();

  const std::string& qid() const { return qid_; }
  // Bytes written so far (the .data size once committed).
  std::uint64_t size() const { return size_; }

  // Appends message bytes exactly as given (the caller has removed dot-stuffing and
  // normalised CRLF to LF). An error (disk full: ENOSPC) is temporary; once write()
  // failed, commit() fails too.
  Result<void> write(std::string_view bytes);
  // Sets envelope.qid and envelope.size, writes and fsyncs both files, renames them into
  // msgs/ (data first, control last) and fsyncs msgs/. On error nothing is committed
  // and the temporary files are removed.
  Result<void> commit(Envelope envelope);
  // Removes the temporary files (also done by the destructor when not committed).
  void abort();

 private:
  Submission() = default;
  Result<void> flush();

  std::string dir_;
  std::string qid_;
  std::string data_tmp_;
  UniqueFd data_fd_;
  std::string buffer_;
  std::uint64_t size_ = 0;
  std::optional<Error> failed_;
  bool done_ = false;
};

enum class PokeResult { poked, not_running };

// After a commit: writes one byte to QUEUEDIR/trigger (O_WRONLY|O_NONBLOCK). A missing
// FIFO (ENOENT) or no reader (ENXIO) is not_running; a full FIFO (EAGAIN) counts as
// poked (courierd has wakeups pending). Never blocks.
PokeResult poke_trigger(const std::string& dir);
// The warning to log when poke_trigger says not_running.
std::string not_running_message(const std::string& dir);

// Whether courierd holds its lock on QUEUEDIR/courierd.lock (tested with a
// non-blocking flock, released at once). The pid written in the file, if any.
bool courierd_running(const std::string& dir, long* pid = nullptr);

// Committed messages: the qids of msgs/*.ctl, sorted. Files vanishing while scanning
// are skipped.
Result<std::vector<std::string>> list_messages(const std::string& dir);

}  // namespace lib::queue
