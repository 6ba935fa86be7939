// lib/queue.cpp: see queue.hpp and doc/queue.5.
//
// Crash safety of a submission (the only state a submitter creates):
//   step                               visible to courierd   after a crash
//   tmp/Q.data.tmp, Q.ctl.tmp written   no                    removed after 36 h
//   both fsynced                       no                    removed after 36 h
//   rename -> msgs/Q.data              no (no .ctl)          removed after 1 h
//   rename -> msgs/Q.ctl               yes                   kept (maybe not durable yet)
//   fsync(msgs/)                       yes, durable          -
// 250 is sent only after the fsync of msgs/, so an acknowledged message survives a
// crash; a crash before it leaves no committed message, and the client retries.
#include "lib/queue.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "lib/atomic_file.hpp"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

namespace lib::queue {

namespace {

constexpr std::size_t write_buffer_bytes = 64 * 1024;
constexpr std::size_t max_control_bytes = 64 * 1024 * 1024;

std::atomic<unsigned> g_counter{0};

Error sys_error(std::string_view what, const std::string& path, int err) {
  std::string m(what);
  m.append(" ").append(path).append(": ").append(errno_text(err));
  if (err == ENOSPC || err == EDQUOT) m.append("; free space on the queue's file system");
  if (err == EACCES || err == EPERM)
    m.append("; the queue must belong to the mail user (DESIGN.md, privilege model)");
  return temporary_error(std::move(m));
}

Result<void> write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("cannot write", path, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) == 0 || errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return sys_error("cannot stat", path, errno);
    if (!S_ISDIR(st.st_mode))
      return permanent_error(path + " is not a folder; move it away so the queue can be created");
    return {};
  }
  return sys_error("cannot create queue folder", path, errno);
}

std::string to_hex(unsigned long long v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", v);
  return buf;
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_time(std::string_view s, std::time_t& out) {
  std::uint64_t v;
  if (!parse_u64(s, v)) return false;
  out = static_cast<std::time_t>(v);
  return true;
}

std::vector<std::string_view> split_tabs(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    auto t = s.find('\t');
    out.push_back(s.substr(0, t));
    if (t == std::string_view::npos) break;
    s.remove_prefix(t + 1);
  }
  return out;
}

bool has_lf(std::string_view s) { return s.find('\n') != std::string_view::npos; }
bool has_tab_or_lf(std::string_view s) { return s.find_first_of("\t\n") != std::string_view::npos; }

// Text fields of appended records: LF would end the record; make it a space.
std::string one_line(std::string_view s) {
  std::string out(s);
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return out;
}

}  // namespace

std::string queue_dir() {
  const char* env = std::getenv("COURIER_QUEUEDIR");
  if (env && *env) return env;
  return LOCALSTATEDIR "/spool/courier";
}

Result<void> ensure_layout(const std::string& dir) {
  for (const std::string& d : {dir, dir + "/tmp", dir + "/msgs"})
    if (auto r = make_dir(d); !r) return r;
  return {};
}

std::string new_qid() {
  unsigned char rnd[2] = {0, 0};
  if (::getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd) {
    unsigned v = static_cast<unsigned>(std::rand());
    rnd[0] = static_cast<unsigned char>(v);
    rnd[1] = static_cast<unsigned char>(v >> 8);
  }
  char r[8];
  std::snprintf(r, sizeof r, "%02x%02x", rnd[0], rnd[1]);
  std::string t = to_hex(static_cast<unsigned long long>(std::time(nullptr)));
  while (t.size() < 9) t.insert(t.begin(), '0');
  return t + "." + to_hex(static_cast<unsigned long long>(::getpid())) + "." +
         to_hex(g_counter.fetch_add(1)) + "." + r;
}

bool valid_qid(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  int dots = 0;
  char prev = '.';
  for (char c : text) {
    if (c == '.') {
      if (prev == '.') return false;
      ++dots;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
    prev = c;
  }
  return dots == 3 && prev != '.';
}

std::string control_path(const std::string& dir, std::string_view qid) {
  return dir + "/msgs/" + std::string(qid) + ".ctl";
}
std::string data_path(const std::string& dir, std::string_view qid) {
  return dir + "/msgs/" + std::string(qid) + ".data";
}

const char* kind_name(FinalKind kind) {
  switch (kind) {
    case FinalKind::delivered: return "delivered";
    case FinalKind::failed: return "failed";
    case FinalKind::relayed: return "relayed";
  }
  return "failed";
}

const Final* Envelope::final_for(std::size_t i) const {
  for (const auto& f : finals)
    if (f.rcpt == i) return &f;
  return nullptr;
}

bool Envelope::all_final() const {
  for (std::size_t i = 0; i < recipients.size(); ++i)
    if (!final_for(i)) return false;
  return true;
}

Result<void> check_envelope(const Envelope& e) {
  auto bad = [](std::string field) {
    return permanent_error("queue envelope field " + field + " holds a line feed or tab");
  };
  if (!valid_qid(e.qid)) return permanent_error("queue id '" + e.qid + "' is malformed");
  if (has_lf(e.sender)) return bad("S (sender)");
  if (e.auth_user && has_lf(*e.auth_user)) return bad("A (authenticated user)");
  if (has_lf(e.client)) return bad("F (client)");
  if (e.protocol.empty() || has_lf(e.protocol)) return bad("P (protocol)");
  if (e.body != "7BIT" && e.body != "8BITMIME" && e.body != "BINARYMIME")
    return permanent_error("queue envelope body type '" + e.body + "' is not 7BIT, 8BITMIME or BINARYMIME");
  if (e.envid && has_lf(*e.envid)) return bad("E (ENVID)");
  if (e.ret && *e.ret != "FULL" && *e.ret != "HDRS")
    return permanent_error("queue envelope RET '" + *e.ret + "' is not FULL or HDRS");
  if (e.recipients.empty()) return permanent_error("queue envelope has no recipient");
  for (const auto& r : e.recipients)
    if (r.address.empty() || has_tab_or_lf(r.address) || has_tab_or_lf(r.orcpt) ||
        has_tab_or_lf(r.notify))
      return bad("R (recipient '" + one_line(r.address) + "')");
  return {};
}

std::string format_control(const Envelope& e) {
  std::string out;
  auto rec = [&out](char letter, std::string_view value) {
    out.push_back(letter);
    out.push_back(' ');
    out.append(value);
    out.push_back('\n');
  };
  rec('V', "1");
  rec('Q', e.qid);
  rec('T', std::to_string(static_cast<long long>(e.accepted)));
  rec('S', e.sender);
  if (e.auth_user) rec('A', *e.auth_user);
  rec('F', e.client);
  rec('P', e.protocol);
  rec('B', e.body);
  if (e.smtputf8) rec('U', "1");
  if (e.envid) rec('E', *e.envid);
  if (e.ret) rec('N', *e.ret);
  rec('Z', std::to_string(e.size));
  for (const auto& r : e.recipients) rec('R', r.address + "\t" + r.orcpt + "\t" + r.notify);
  return out;
}

std::string final_record(const Final& f) {
  return "D " + std::to_string(f.rcpt) + "\t" + std::to_string(static_cast<long long>(f.time)) +
         "\t" + kind_name(f.kind) + "\t" + one_line(f.status) + "\t" + one_line(f.text) + "\n";
}
std::string deferral_record(const Deferral& d) {
  return "Y " + std::to_string(d.rcpt) + "\t" + std::to_string(static_cast<long long>(d.time)) +
         "\t" + one_line(d.status) + "\t" + one_line(d.text) + "\n";
}
std::string warned_record(std::time_t t) { return "W " + std::to_string(static_cast<long long>(t)) + "\n"; }
std::string next_attempt_record(std::time_t t) {
  return "X " + std::to_string(static_cast<long long>(t)) + "\n";
}
std::string completed_record(std::time_t t) { return "C " + std::to_string(static_cast<long long>(t)) + "\n"; }

Result<Envelope> parse_control(std::string_view text, const std::string& path) {
  Envelope e;
  // Torn final append: drop an unterminated last line.
  if (!text.empty() && text.back() != '\n') {
    auto lf = text.rfind('\n');
    text = lf == std::string_view::npos ? std::string_view() : text.substr(0, lf + 1);
  }
  std::size_t lineno = 0;
  bool seen_v = false, seen_q = false, seen_t = false, seen_s = false, seen_f = false,
       seen_p = false, seen_b = false, seen_z = false;
  auto fail = [&](std::string what) -> Error {
    return permanent_error(path + ":" + std::to_string(lineno) + ": " + what +
                           "; the control file is corrupt (courierd moves it aside to .ctl.corrupt)");
  };
  while (!text.empty()) {
    ++lineno;
    auto lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    text.remove_prefix(lf + 1);
    if (line.size() < 2 || line[1] != ' ') return fail("malformed record (expected '<letter> <value>')");
    char letter = line[0];
    std::string_view v = line.substr(2);
    if (!seen_v && letter != 'V') return fail("the first record must be 'V 1'");
    switch (letter) {
      case 'V':
        if (seen_v) return fail("second V record");
        if (v != "1") return fail("unsupported format version '" + std::string(v) + "'");
        seen_v = true;
        break;
      case 'Q':
        if (!valid_qid(v)) return fail("malformed queue id");
        e.qid = v;
        seen_q = true;
        break;
      case 'T':
        if (!parse_time(v, e.accepted)) return fail("malformed time");
        seen_t = true;
        break;
      case 'S': e.sender = v; seen_s = true; break;
      case 'A': e.auth_user = std::string(v); break;
      case 'F': e.client = v; seen_f = true; break;
      case 'P':
        if (v.empty()) return fail("empty protocol");
        e.protocol = v;
        seen_p = true;
        break;
      case 'B':
        if (v != "7BIT" && v != "8BITMIME" && v != "BINARYMIME") return fail("unknown body type");
        e.body = v;
        seen_b = true;
        break;
      case 'U':
        if (v != "1") return fail("malformed U record");
        e.smtputf8 = true;
        break;
      case 'E': e.envid = std::string(v); break;
      case 'N':
        if (v != "FULL" && v != "HDRS") return fail("RET must be FULL or HDRS");
        e.ret = std::string(v);
        break;
      case 'Z':
        if (!parse_u64(v, e.size)) return fail("malformed size");
        seen_z = true;
        break;
      case 'R': {
        auto f = split_tabs(v);
        if (f.size() != 3 || f[0].empty()) return fail("malformed recipient (address TAB orcpt TAB notify)");
        e.recipients.push_back({std::string(f[0]), std::string(f[1]), std::string(f[2])});
        break;
      }
      case 'D': {
        auto f = split_tabs(v);
        Final d;
        std::uint64_t n;
        if (f.size() != 5 || !parse_u64(f[0], n) || !parse_time(f[1], d.time))
          return fail("malformed D record");
        if (n >= e.recipients.size()) return fail("D record for recipient " + std::string(f[0]) + " that does not exist");
        d.rcpt = n;
        if (f[2] == "delivered") d.kind = FinalKind::delivered;
        else if (f[2] == "failed") d.kind = FinalKind::failed;
        else if (f[2] == "relayed") d.kind = FinalKind::relayed;
        else return fail("unknown outcome '" + std::string(f[2]) + "'");
        d.status = f[3];
        d.text = f[4];
        e.finals.push_back(std::move(d));
        break;
      }
      case 'Y': {
        auto f = split_tabs(v);
        Deferral d;
        std::uint64_t n;
        if (f.size() != 4 || !parse_u64(f[0], n) || !parse_time(f[1], d.time))
          return fail("malformed Y record");
        if (n >= e.recipients.size()) return fail("Y record for recipient " + std::string(f[0]) + " that does not exist");
        d.rcpt = n;
        d.status = f[2];
        d.text = f[3];
        e.deferrals.push_back(std::move(d));
        break;
      }
      case 'W': case 'X': case 'C': {
        std::time_t t;
        if (!parse_time(v, t)) return fail(std::string("malformed ") + letter + " record");
        (letter == 'W' ? e.warned : letter == 'X' ? e.next_attempt : e.completed) = t;
        break;
      }
      default:
        return fail(std::string("unknown record '") + letter + "'");
    }
  }
  ++lineno;
  if (!seen_v) return fail("empty control file");
  const char* missing = !seen_q ? "Q" : !seen_t ? "T" : !seen_s ? "S" : !seen_f ? "F"
                        : !seen_p ? "P" : !seen_b ? "B" : !seen_z ? "Z" : nullptr;
  if (missing) return fail(std::string("missing record ") + missing);
  if (e.recipients.empty()) return fail("no recipient (R) record");
  return e;
}

Result<Envelope> read_control(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys_error("cannot open control file", path, errno);
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("cannot read control file", path, errno);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_control_bytes)
      return permanent_error(path + ": control file larger than 64 MB; it is corrupt");
  }
  return parse_control(text, path);
}

Result<void> append_records(const std::string& control_file, std::string_view records) {
  if (records.empty()) return {};
  if (records.back() != '\n') return permanent_error("append_records: records must end with a line feed");
  UniqueFd fd(::open(control_file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd) return sys_error("cannot open control file", control_file, errno);
  ssize_t n;
  do n = ::write(fd.get(), records.data(), records.size());
  while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error("cannot append to control file", control_file, errno);
  if (static_cast<std::size_t>(n) != records.size())
    return temporary_error("short append to control file " + control_file +
                           " (disk full?); the torn line is ignored by readers");
  if (::fdatasync(fd.get()) != 0) return sys_error("cannot fdatasync control file", control_file, errno);
  return {};
}

// ---------------------------------------------------------------------------
// Submission
// ---------------------------------------------------------------------------

Result<Submission> Submission::begin(const std::string& dir) {
  Submission s;
  s.dir_ = dir;
  for (int attempt = 0; attempt < 10; ++attempt) {
    s.qid_ = new_qid();
    s.data_tmp_ = dir + "/tmp/" + s.qid_ + ".data.tmp";
    int fd = ::open(s.data_tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd >= 0) {
      s.data_fd_.reset(fd);
      return s;
    }
    if (errno != EEXIST) return sys_error("cannot create queue file", s.data_tmp_, errno);
  }
  return temporary_error("cannot find a free queue id in " + dir + "/tmp");
}

Submission::Submission(Submission&& o) noexcept
    : dir_(std::move(o.dir_)),
      qid_(std::move(o.qid_)),
      data_tmp_(std::move(o.data_tmp_)),
      data_fd_(std::move(o.data_fd_)),
      buffer_(std::move(o.buffer_)),
      size_(o.size_),
      failed_(std::move(o.failed_)),
      done_(o.done_) {
  o.done_ = true;
}

Submission::~Submission() { abort(); }

void Submission::abort() {
  if (done_) return;
  done_ = true;
  data_fd_.reset();
  if (!data_tmp_.empty()) ::unlink(data_tmp_.c_str());
}

Result<void> Submission::flush() {
  if (failed_) return *failed_;
  if (buffer_.empty()) return {};
  auto r = write_all(data_fd_.get(), buffer_, data_tmp_);
  buffer_.clear();
  if (!r) failed_ = r.error();
  return r;
}

Result<void> Submission::write(std::string_view bytes) {
  if (failed_) return *failed_;
  if (done_) return permanent_error("queue submission " + qid_ + " already finished");
  size_ += bytes.size();
  if (buffer_.size() + bytes.size() < write_buffer_bytes) {
    buffer_.append(bytes);
    return {};
  }
  if (auto r = flush(); !r) return r;
  if (bytes.size() >= write_buffer_bytes) {
    auto r = write_all(data_fd_.get(), bytes, data_tmp_);
    if (!r) failed_ = r.error();
    return r;
  }
  buffer_.append(bytes);
  return {};
}

Result<void> Submission::commit(Envelope envelope) {
  if (done_) return permanent_error("queue submission " + qid_ + " already finished");
  envelope.qid = qid_;
  envelope.size = size_;
  if (auto r = check_envelope(envelope); !r) {
    abort();
    return r;
  }
  auto fail = [this](Error e) -> Result<void> {
    abort();
    return e;
  };
  if (auto r = flush(); !r) return fail(r.error());
  // Both files are written before either is fsynced: the first fsync's journal
  // commit then carries the second file's metadata too, so the second is
  // nearly free (bench/smtp: one fsync round instead of two).
  std::string ctl_tmp = dir_ + "/tmp/" + qid_ + ".ctl.tmp";
  {
    UniqueFd cfd(::open(ctl_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!cfd) return fail(sys_error("cannot create queue file", ctl_tmp, errno));
    auto w = write_all(cfd.get(), format_control(envelope), ctl_tmp);
    if (w && ::fsync(data_fd_.get()) != 0) w = sys_error("cannot fsync", data_tmp_, errno);
    if (w && ::fsync(cfd.get()) != 0) w = sys_error("cannot fsync", ctl_tmp, errno);
    if (!w) {
      ::unlink(ctl_tmp.c_str());
      return fail(w.error());
    }
  }
  data_fd_.reset();
  std::string data_final = data_path(dir_, qid_);
  std::string ctl_final = control_path(dir_, qid_);
  if (::rename(data_tmp_.c_str(), data_final.c_str()) != 0) {
    Error e = sys_error("cannot rename queue file into", data_final, errno);
    ::unlink(ctl_tmp.c_str());
    return fail(e);
  }
  data_tmp_ = data_final;  // abort() now removes the uncommitted msgs/ data file
  if (::rename(ctl_tmp.c_str(), ctl_final.c_str()) != 0) {
    Error e = sys_error("cannot rename queue file into", ctl_final, errno);
    ::unlink(ctl_tmp.c_str());
    return fail(e);
  }
  // The message exists now. fsync(msgs/) makes it durable; if that fails the message
  // may or may not survive a crash, so take it back: the client will retry.
  if (auto r = lib::fsync_directory(dir_ + "/msgs"); !r) {
    ::unlink(ctl_final.c_str());
    return fail(r.error());
  }
  done_ = true;
  return {};
}

// ---------------------------------------------------------------------------
// courierd
// ---------------------------------------------------------------------------

PokeResult poke_trigger(const std::string& dir) {
  std::string path = dir + "/trigger";
  int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return PokeResult::not_running;  // ENXIO: no reader; ENOENT: never started
  UniqueFd guard(fd);
  ssize_t n;
  do n = ::write(fd, "q", 1);
  while (n < 0 && errno == EINTR);
  return PokeResult::poked;  // EAGAIN: the FIFO is full of wakeups already
}

std::string not_running_message(const std::string& dir) {
  return "courierd is not running: accepted mail waits in " + dir +
         " until it starts (run: courier start)";
}

bool courierd_running(const std::string& dir, long* pid) {
  std::string path = dir + "/courierd.lock";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd.get(), LOCK_UN);
    return false;
  }
  if (errno != EWOULDBLOCK) return false;
  if (pid) {
    char buf[32] = {0};
    ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    *pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
  }
  return true;
}

Result<std::vector<std::string>> list_messages(const std::string& dir) {
  std::string msgs = dir + "/msgs";
  DIR* d = ::opendir(msgs.c_str());
  if (!d) return sys_error("cannot open queue folder", msgs, errno);
  std::vector<std::string> out;
  errno = 0;
  while (struct dirent* ent = ::readdir(d)) {
    std::string_view name = ent->d_name;
    if (name.size() > 4 && name.substr(name.size() - 4) == ".ctl") {
      std::string_view qid = name.substr(0, name.size() - 4);
      if (valid_qid(qid)) out.emplace_back(qid);
    }
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return sys_error("cannot read queue folder", msgs, err);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace lib::queue
