// courierd/scheduler.cpp: see scheduler.hpp.
#include "courierd/scheduler.hpp"

#include <dirent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <set>

#include "courierd/dsn.hpp"
#include "courierd/local_delivery.hpp"
#include "courierd/queue_access.hpp"
#include "courierd/text.hpp"
#include "lib/config.hpp"
#include "lib/event.hpp"
#include "lib/process.hpp"
#include "lib/rfc5322.hpp"
#include "lib/log.hpp"
#include "lib/unique_fd.hpp"

namespace courierd {

namespace {

constexpr const char* double_bounce_client = "courierd double-bounce";
constexpr const char* dsn_client = "courierd dsn";

std::time_t now_s() { return std::time(nullptr); }

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

struct RemoteJob {
  pid_t pid = -1;
  std::string qid;
  std::string domain;
  std::vector<int> rcpts;
  lib::UniqueFd out;
  lib::Event ev;
  std::string output;
  bool eof = false;
  std::optional<int> wait_status;
  std::time_t started = 0;
};

struct LocalJob {
  std::string qid;
  int rcpt = 0;
  std::time_t started = 0;
};

struct Entry {
  QueuedMessage q;
  std::set<int> in_flight;
};

class Scheduler {
 public:
  Scheduler(const Settings& s, const SchedulerOptions& o) : s_(s), o_(o) {}
  int run();

 private:
  static void on_trigger(evutil_socket_t, short, void* self) noexcept;
  static void on_tick(evutil_socket_t, short, void* self) noexcept;
  static void on_scan(evutil_socket_t, short, void* self) noexcept;
  static void on_signal(evutil_socket_t sig, short, void* self) noexcept;
  static void on_helper(evutil_socket_t, short, void* self) noexcept;
  static void on_remote_output(evutil_socket_t fd, short, void* self) noexcept;

  lib::Result<void> open_trigger();
  void scan();
  void dispatch();
  void housekeeping();
  void dispatch_message(Entry& e);
  void start_local(Entry& e, int rcpt, const Destination& d);
  void start_remote(Entry& e, const std::string& domain, std::vector<int> rcpts);
  void reap_children();
  void finish_remote(pid_t pid);
  void record(Entry& e, int rcpt, Outcome outcome, const std::string& status, const std::string& text,
              const std::string& module, const std::string& relay, std::time_t started, bool relayed = false);
  void after_attempt(Entry& e);
  void forward(Entry& e, int rcpt, const std::string& addresses, std::time_t started);
  void maybe_warn(Entry& e);
  void expire(Entry& e);
  void finalize(Entry& e);
  // False when the notice could not be queued (the caller keeps the message).
  bool queue_dsn(const Entry& e, DsnKind kind, const std::vector<int>& rcpts);
  int total_in_flight() const { return static_cast<int>(local_jobs_.size() + remote_jobs_.size()); }

  const Settings& s_;
  const SchedulerOptions& o_;
  lib::EventBase base_{event_base_new()};
  lib::UniqueFd trigger_rd_, trigger_wr_;
  lib::Event trigger_ev_, tick_ev_, scan_ev_, helper_ev_;
  std::vector<lib::Event> signal_evs_;
  std::map<std::string, Entry> msgs_;
  std::map<std::uint64_t, LocalJob> local_jobs_;
  std::map<pid_t, std::unique_ptr<RemoteJob>> remote_jobs_;
  std::map<std::string, int> per_domain_;
  std::uint64_t next_job_ = 1;
  bool stopping_ = false;
  std::time_t last_housekeeping_ = 0;
  std::set<std::string> flush_all_;  // qids to retry now (from courier flush)
};

lib::Result<void> Scheduler::open_trigger() {
  std::string path = s_.queuedir + "/trigger";
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISFIFO(st.st_mode)) ::unlink(path.c_str());
  if (::mkfifo(path.c_str(), 0620) != 0 && errno != EEXIST)
    return lib::temporary_error("mkfifo " + path + ": " + lib::errno_text(errno));
  ::chmod(path.c_str(), 0620);  // QUEUE-SPEC.md: the mail group may poke it (umask aside)
  trigger_rd_.reset(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!trigger_rd_) return lib::temporary_error("open " + path + ": " + lib::errno_text(errno));
  // Our own writer keeps the FIFO from reporting EOF when submitters close it.
  trigger_wr_.reset(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  return {};
}

void Scheduler::on_trigger(evutil_socket_t fd, short, void* arg) noexcept {
  auto* self = static_cast<Scheduler*>(arg);
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  // "flush" or "flush <qid>" from `courier flush`; any other byte is a submitter's poke.
  for (size_t pos = got.find("flush"); pos != std::string::npos; pos = got.find("flush", pos + 5)) {
    size_t start = pos + 5;
    while (start < got.size() && got[start] == ' ') ++start;
    size_t end = start;
    while (end < got.size() && (std::isxdigit(static_cast<unsigned char>(got[end])) || got[end] == '.')) ++end;
    std::string qid = got.substr(start, end - start);
    self->flush_all_.insert(qid.empty() ? "*" : qid);
  }
  timeval zero{0, 0};
  event_add(self->scan_ev_.get(), &zero);
}

void Scheduler::on_scan(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Scheduler*>(arg);
  // The next periodic scan first: a DSN queued by dispatch() asks for an earlier one.
  if (!self->stopping_) {
    timeval every{static_cast<time_t>(self->s_.scan_interval.count()), 0};
    event_add(self->scan_ev_.get(), &every);
  }
  self->scan();
  self->dispatch();
}

void Scheduler::on_tick(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Scheduler*>(arg);
  self->reap_children();
  self->dispatch();
  if (self->stopping_ && self->total_in_flight() == 0) event_base_loopbreak(self->base_.get());
}

void Scheduler::on_signal(evutil_socket_t sig, short, void* arg) noexcept {
  auto* self = static_cast<Scheduler*>(arg);
  if (sig == SIGCHLD) {
    self->reap_children();
    self->dispatch();  // a finished remote job frees a slot
    return;
  }
  if (self->stopping_) {
    event_base_loopbreak(self->base_.get());
    return;
  }
  lib::log::notice("courierd: stopping (signal %d); waiting up to 10 s for %d deliveries in progress",
                   static_cast<int>(sig), self->total_in_flight());
  self->stopping_ = true;
  timeval ten{10, 0};
  event_base_loopexit(self->base_.get(), &ten);
  if (self->total_in_flight() == 0) event_base_loopbreak(self->base_.get());
}

void Scheduler::scan() {
  auto qids = list_queue(s_.queuedir);
  if (!qids) {
    lib::log::error("courierd: scanning the queue: %s", qids.error().message.c_str());
    return;
  }
  std::set<std::string> present(qids->begin(), qids->end());
  if (now_s() - last_housekeeping_ >= 300) {
    last_housekeeping_ = now_s();
    housekeeping();
  }
  for (const auto& qid : *qids) {
    if (msgs_.count(qid)) continue;
    if (::access(data_path(s_.queuedir, qid).c_str(), F_OK) != 0 && errno == ENOENT) {
      // A control file without its message: corrupt. Kept aside for the admin, never deleted.
      std::string ctl = ctl_path(s_.queuedir, qid);
      if (::rename(ctl.c_str(), (ctl + ".corrupt").c_str()) == 0)
        lib::log::error("id=%s: %s has no message file %s; moved aside to %s.corrupt (look at it, then remove it)",
                        qid.c_str(), ctl.c_str(), data_path(s_.queuedir, qid).c_str(), ctl.c_str());
      continue;
    }
    auto m = load_message(s_.queuedir, qid);
    if (!m) {
      lib::log::error("id=%s: %s", qid.c_str(), m.error().message.c_str());
      continue;
    }
    Entry e;
    e.q = std::move(*m);
    msgs_.emplace(qid, std::move(e));
  }
  // Messages removed behind our back (cancelmsg marks recipients final: reload those).
  for (auto it = msgs_.begin(); it != msgs_.end();) {
    if (!present.count(it->first) && it->second.in_flight.empty()) {
      it = msgs_.erase(it);
    } else {
      ++it;
    }
  }
}

// QUEUE-SPEC.md: a .data without its .ctl is an uncommitted leftover (removed after an
// hour); anything in tmp/ older than 36 hours is removed.
void Scheduler::housekeeping() {
  std::time_t now = now_s();
  struct Sweep {
    std::string dir;
    std::time_t max_age;
    bool only_orphan_data;
  };
  for (const auto& sw : {Sweep{s_.queuedir + "/msgs", 3600, true}, Sweep{s_.queuedir + "/tmp", 36 * 3600, false}}) {
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(sw.dir.c_str()), ::closedir);
    if (!d) continue;
    while (auto* ent = ::readdir(d.get())) {
      std::string name = ent->d_name;
      if (name == "." || name == "..") continue;
      if (sw.only_orphan_data) {
        if (name.size() < 6 || name.compare(name.size() - 5, 5, ".data") != 0) continue;
        std::string ctl = sw.dir + "/" + name.substr(0, name.size() - 5) + ".ctl";
        if (::access(ctl.c_str(), F_OK) == 0) continue;
      }
      std::string path = sw.dir + "/" + name;
      struct stat st{};
      if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (now - st.st_mtime < sw.max_age) continue;
      if (::unlink(path.c_str()) == 0)
        lib::log::notice("courierd: removed %s, left over from an interrupted submission", path.c_str());
    }
  }
}

void Scheduler::dispatch() {
  if (stopping_) return;
  std::time_t now = now_s();
  bool flush_everything = flush_all_.count("*") > 0;
  for (auto& [qid, e] : msgs_) {
    if (!flush_everything && !flush_all_.count(qid)) continue;
    e.q.next_attempt = 0;
    // cancelmsg appends outcomes and then asks for a flush of the message: reload it.
    if (e.in_flight.empty()) {
      if (auto m = load_message(s_.queuedir, qid)) {
        e.q = std::move(*m);
        e.q.next_attempt = 0;
      }
    }
  }
  flush_all_.clear();
  for (auto it = msgs_.begin(); it != msgs_.end();) {
    Entry& e = it->second;
    ++it;  // finalize may erase the entry
    if (!e.in_flight.empty() && e.q.all_final()) continue;
    if (e.q.complete || e.q.all_final()) {
      if (e.in_flight.empty() && e.q.next_attempt <= now) finalize(e);
      continue;
    }
    if (e.q.next_attempt > now) continue;
    if (total_in_flight() >= s_.max_deliveries) break;
    dispatch_message(e);
  }
}

void Scheduler::dispatch_message(Entry& e) {
  std::time_t now = now_s();
  if (now - e.q.accepted >= s_.retry.queuetime.count()) {
    expire(e);
    return;
  }
  maybe_warn(e);
  std::map<std::string, std::vector<int>> remote;
  for (size_t i = 0; i < e.q.rcpts.size(); ++i) {
    const auto& r = e.q.rcpts[i];
    int idx = static_cast<int>(i);
    if (r.final_kind || e.in_flight.count(idx)) continue;
    Destination d = classify(s_, r.address);
    if (d.local) {
      if (static_cast<int>(local_jobs_.size()) >= s_.max_local || total_in_flight() >= s_.max_deliveries) continue;
      start_local(e, idx, d);
    } else {
      remote[d.domain].push_back(idx);
    }
  }
  for (auto& [domain, rcpts] : remote) {
    for (size_t start = 0; start < rcpts.size(); start += s_.batch_size) {
      if (per_domain_[domain] >= s_.max_per_host || total_in_flight() >= s_.max_deliveries) break;
      std::vector<int> batch(rcpts.begin() + static_cast<long>(start),
                             rcpts.begin() + static_cast<long>(std::min(rcpts.size(), start + s_.batch_size)));
      start_remote(e, domain, std::move(batch));
    }
  }
}

void Scheduler::start_local(Entry& e, int rcpt, const Destination& d) {
  LocalRequest req;
  req.job = next_job_++;
  req.qid = e.q.qid;
  req.rcpt = rcpt;
  req.recipient = e.q.rcpts[static_cast<size_t>(rcpt)].address;
  req.account_key = d.account_key;
  req.sender = e.q.sender;
  std::string packet = encode(req);
  if (::send(o_.helper_socket, packet.data(), packet.size(), MSG_NOSIGNAL) < 0) {
    lib::log::critical("courierd: the delivery helper is gone (%s); stopping so that it restarts",
                       lib::errno_text(errno).c_str());
    stopping_ = true;
    event_base_loopbreak(base_.get());
    return;
  }
  local_jobs_[req.job] = LocalJob{e.q.qid, rcpt, now_s()};
  e.in_flight.insert(rcpt);
}

void Scheduler::on_helper(evutil_socket_t fd, short, void* arg) noexcept {
  auto* self = static_cast<Scheduler*>(arg);
  char buf[65536];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // Replies free local slots: fill them now, not at the next 1-second tick
      // (bench/flow: waiting for the tick held local delivery near 28 messages/s).
      self->dispatch();
      return;
    }
    if (n == 0) {
      lib::log::critical("courierd: the delivery helper exited; stopping (restart with: courier restart)");
      self->stopping_ = true;
      event_base_loopbreak(self->base_.get());
      return;
    }
    auto reply = decode_reply(std::string_view(buf, static_cast<size_t>(n)));
    if (!reply) {
      lib::log::error("courierd: malformed reply from the delivery helper (ignored)");
      continue;
    }
    auto job = self->local_jobs_.find(reply->job);
    if (job == self->local_jobs_.end()) continue;
    LocalJob lj = job->second;
    self->local_jobs_.erase(job);
    auto m = self->msgs_.find(lj.qid);
    if (m == self->msgs_.end()) continue;
    m->second.in_flight.erase(lj.rcpt);
    if (reply->outcome == Outcome::forward) {
      self->forward(m->second, lj.rcpt, reply->text, lj.started);
    } else {
      self->record(m->second, lj.rcpt, reply->outcome, reply->status, reply->text, "local", "", lj.started);
    }
    self->after_attempt(m->second);
  }
}

void Scheduler::start_remote(Entry& e, const std::string& domain, std::vector<int> rcpts) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    lib::log::error("courierd: pipe: %s", lib::errno_text(errno).c_str());
    return;
  }
  std::vector<std::string> args = {o_.courieresmtp, "-c", s_.sysconfdir, e.q.qid, domain};
  for (int r : rcpts) args.push_back(std::to_string(r));
  pid_t pid = ::fork();
  if (pid < 0) {
    lib::log::error("courierd: fork: %s", lib::errno_text(errno).c_str());
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return;
  }
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::setenv("COURIER_QUEUEDIR", s_.queuedir.c_str(), 1);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    for (int r : rcpts) {
      std::string line = std::to_string(r) + "\ty\t4.3.0\t\tcannot run " + args[0] + ": " + lib::errno_text(errno) + "\n";
      ssize_t ignored = ::write(1, line.data(), line.size());
      (void)ignored;
    }
    ::_exit(75);
  }
  ::close(pipefd[1]);
  auto job = std::make_unique<RemoteJob>();
  job->pid = pid;
  job->qid = e.q.qid;
  job->domain = domain;
  job->rcpts = rcpts;
  job->out.reset(pipefd[0]);
  job->started = now_s();
  evutil_make_socket_nonblocking(job->out.get());
  job->ev.reset(event_new(base_.get(), job->out.get(), EV_READ | EV_PERSIST, on_remote_output, this));
  event_add(job->ev.get(), nullptr);
  for (int r : rcpts) e.in_flight.insert(r);
  per_domain_[domain]++;
  remote_jobs_[pid] = std::move(job);
}

void Scheduler::on_remote_output(evutil_socket_t fd, short, void* arg) noexcept {
  auto* self = static_cast<Scheduler*>(arg);
  for (auto& [pid, job] : self->remote_jobs_) {
    if (job->out.get() != fd) continue;
    char buf[8192];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;  // EAGAIN
      if (n == 0) {
        job->eof = true;
        event_del(job->ev.get());
        break;
      }
      if (job->output.size() < 1024 * 1024) job->output.append(buf, static_cast<size_t>(n));
    }
    pid_t p = pid;
    if (job->eof && job->wait_status) self->finish_remote(p);
    return;
  }
}

void Scheduler::reap_children() {
  while (true) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    auto it = remote_jobs_.find(pid);
    if (it == remote_jobs_.end()) continue;
    it->second->wait_status = st;
    if (it->second->eof) finish_remote(pid);
  }
}

void Scheduler::finish_remote(pid_t pid) {
  auto it = remote_jobs_.find(pid);
  if (it == remote_jobs_.end()) return;
  std::unique_ptr<RemoteJob> job = std::move(it->second);
  remote_jobs_.erase(it);
  if (--per_domain_[job->domain] <= 0) per_domain_.erase(job->domain);
  auto m = msgs_.find(job->qid);
  if (m == msgs_.end()) return;
  Entry& e = m->second;
  std::set<int> reported;
  size_t pos = 0;
  while (pos < job->output.size()) {
    auto nl = job->output.find('\n', pos);
    if (nl == std::string::npos) break;  // a torn last line is not a result
    std::string_view line(job->output.data() + pos, nl - pos);
    pos = nl + 1;
    // rcpt# TAB d|r|f|y TAB status TAB relay TAB text
    std::vector<std::string_view> f;
    size_t p = 0;
    for (int i = 0; i < 4; ++i) {
      auto tab = line.find('\t', p);
      if (tab == std::string_view::npos) break;
      f.push_back(line.substr(p, tab - p));
      p = tab + 1;
    }
    if (f.size() != 4 || f[1].size() != 1) continue;
    f.push_back(line.substr(p));
    int rcpt = -1;
    try {
      rcpt = std::stoi(std::string(f[0]));
    } catch (...) {
      continue;
    }
    if (std::find(job->rcpts.begin(), job->rcpts.end(), rcpt) == job->rcpts.end() || reported.count(rcpt)) continue;
    Outcome o = f[1][0] == 'd' || f[1][0] == 'r' ? Outcome::delivered : f[1][0] == 'f' ? Outcome::failed
                                                                                      : Outcome::deferred;
    e.in_flight.erase(rcpt);
    reported.insert(rcpt);
    // 'r': relayed to a server without DSN (final state "relayed").
    record(e, rcpt, o, std::string(f[2]), std::string(f[4]), "esmtp", std::string(f[3]), job->started,
           f[1][0] == 'r');
  }
  std::string how = lib::exit_status_from_wait(*job->wait_status).describe();
  for (int r : job->rcpts) {
    if (reported.count(r)) continue;
    e.in_flight.erase(r);
    record(e, r, Outcome::deferred, "4.3.0", "courieresmtp ended (" + how + ") without reporting a result", "esmtp",
           "", job->started);
  }
  after_attempt(e);
}

void Scheduler::record(Entry& e, int rcpt, Outcome outcome, const std::string& status, const std::string& text,
                       const std::string& module, const std::string& relay, std::time_t started, bool relayed) {
  std::time_t now = now_s();
  auto& r = e.q.rcpts[static_cast<size_t>(rcpt)];
  FinalKind final_kind = outcome == Outcome::failed ? FinalKind::failed
                         : relayed                  ? FinalKind::relayed
                                                    : FinalKind::delivered;
  lib::Result<void> ok;
  if (outcome == Outcome::deferred) {
    ok = append_deferral(s_.queuedir, e.q.qid, rcpt, status, text, now);
  } else {
    ok = append_final(s_.queuedir, e.q.qid, rcpt, final_kind, status, text, now);
  }
  if (!ok) {
    // The outcome is not durable: keep the recipient pending, so it is tried again.
    lib::log::error("id=%s rcpt=<%s>: cannot record the outcome (%s): %s; will retry", e.q.qid.c_str(),
                    r.address.c_str(), text.c_str(), ok.error().message.c_str());
    r.deferrals++;
    return;
  }
  if (outcome == Outcome::deferred) {
    r.deferrals++;
  } else {
    r.final_kind = final_kind;
  }
  r.status = status;
  r.text = text;
  r.when = now;
  const char* word = outcome == Outcome::deferred ? "deferred" : final_kind_name(final_kind);
  auto level = outcome == Outcome::delivered ? lib::log::Level::info : lib::log::Level::warning;
  lib::log::write(level, "id=%s rcpt=<%s> module=%s relay=%s status=%s delay=%llds attempt=%llds dsn=%s reply=%s",
                  e.q.qid.c_str(), r.address.c_str(), module.c_str(), relay.empty() ? "-" : relay.c_str(), word,
                  static_cast<long long>(now - e.q.accepted), static_cast<long long>(now - started), status.c_str(),
                  quote(text).c_str());
}

// A recipient's instructions forward the message: queue a copy (same sender, with
// Delivered-To: for loop detection) to the addresses, then the recipient is done.
void Scheduler::forward(Entry& e, int rcpt, const std::string& addresses, std::time_t started) {
  const auto& r = e.q.rcpts[static_cast<size_t>(rcpt)];
  std::vector<NewRecipient> to;
  size_t pos = 0;
  while (pos <= addresses.size()) {
    auto comma = addresses.find(',', pos);
    std::string a = addresses.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!a.empty()) to.push_back({a, ""});
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  auto data = lib::read_small_file(data_path(s_.queuedir, e.q.qid), 1ULL << 34);
  if (!data) {
    record(e, rcpt, Outcome::deferred, "4.3.0", "forwarding: " + data.error().message, "local", "", started);
    return;
  }
  std::string delivered_to = r.address.find('@') == std::string::npos ? r.address + "@" + s_.me : r.address;
  auto header = lib::rfc5322::parse_header(*data);
  for (const auto* f : header.find_all("Delivered-To")) {
    if (lib::rfc5322::iequals(f->value(), delivered_to)) {
      record(e, rcpt, Outcome::failed, "5.4.6", "mail loop: the message already carries \"Delivered-To: " +
             delivered_to + "\"", "local", "", started);
      return;
    }
  }
  auto qid = submit_message(s_.queuedir, e.q.sender, to, "Delivered-To: " + delivered_to + "\n" + *data,
                            "courierd forward for " + delivered_to);
  if (!qid) {
    record(e, rcpt, Outcome::deferred, "4.3.0", "cannot queue the forwarded copy: " + qid.error().message, "local",
           "", started);
    return;
  }
  record(e, rcpt, Outcome::delivered, "2.1.5", "forwarded to " + addresses + " as id=" + *qid, "local", "", started);
  timeval zero{0, 0};
  event_add(scan_ev_.get(), &zero);
}

void Scheduler::after_attempt(Entry& e) {
  if (!e.in_flight.empty()) return;
  if (e.q.all_final()) {
    finalize(e);
    return;
  }
  int most = 0;
  for (const auto& r : e.q.rcpts)
    if (!r.final_kind) most = std::max(most, r.deferrals);
  std::time_t next = now_s() + retry_delay(std::max(1, most), s_.retry).count();
  std::time_t give_up = e.q.accepted + s_.retry.queuetime.count();
  if (next > give_up) next = give_up;
  e.q.next_attempt = next;
  if (auto ok = append_next_attempt(s_.queuedir, e.q.qid, next); !ok)
    lib::log::warning("id=%s: %s", e.q.qid.c_str(), ok.error().message.c_str());
  maybe_warn(e);
}

void Scheduler::maybe_warn(Entry& e) {
  if (e.q.warned || s_.retry.warntime.count() == 0) return;
  if (now_s() - e.q.accepted < s_.retry.warntime.count()) return;
  std::vector<int> delayed;
  for (size_t i = 0; i < e.q.rcpts.size(); ++i) {
    const auto& r = e.q.rcpts[i];
    if (!r.final_kind && r.deferrals > 0 && notify_wants(r.notify, DsnKind::delay)) delayed.push_back(static_cast<int>(i));
  }
  if (!delayed.empty() && !e.q.sender.empty()) queue_dsn(e, DsnKind::delay, delayed);
  // W is written even when no notice was wanted, so the check is not repeated.
  if (auto ok = append_warned(s_.queuedir, e.q.qid, now_s()); !ok) {
    lib::log::warning("id=%s: %s", e.q.qid.c_str(), ok.error().message.c_str());
    return;
  }
  e.q.warned = true;
}

void Scheduler::expire(Entry& e) {
  for (size_t i = 0; i < e.q.rcpts.size(); ++i) {
    auto& r = e.q.rcpts[i];
    if (r.final_kind || e.in_flight.count(static_cast<int>(i))) continue;
    std::string why = "delivery time expired after " + std::to_string(s_.retry.queuetime.count() / 3600) +
                      " hours (queuetime)" + (r.text.empty() ? "" : "; last error: " + r.text);
    record(e, static_cast<int>(i), Outcome::failed, "4.4.7", why, "queue", "", now_s());
  }
  after_attempt(e);
}

bool Scheduler::queue_dsn(const Entry& e, DsnKind kind, const std::vector<int>& rcpts) {
  std::string to = e.q.sender;
  // DSNTOAUTHADDR: an authenticated sender's notices go to the account that sent it.
  if (s_.dsn_to_auth_addr && !to.empty() && !e.q.auth_user.empty() && e.q.auth_user.find('@') != std::string::npos)
    to = e.q.auth_user;
  std::string client = dsn_client;
  if (to.empty()) {
    // A bounce of a bounce: the postmaster hears of it once; a failed report to the
    // postmaster is dropped (logged), so nothing can loop.
    if (e.q.client == double_bounce_client) {
      lib::log::error("id=%s: a double-bounce notice to the postmaster failed too; dropped (see the lines above)",
                      e.q.qid.c_str());
      return true;
    }
    if (kind != DsnKind::failure) return true;
    to = s_.postmaster;
    client = double_bounce_client;
  }
  auto original = lib::read_small_file(data_path(s_.queuedir, e.q.qid), 1ULL << 34);
  DsnInput in;
  in.kind = kind;
  in.reporting_mta = s_.me;
  in.from = s_.dsnfrom;
  in.to = to;
  in.envid = e.q.envid;
  in.ret = e.q.ret;
  in.qid = e.q.qid;
  in.arrival = e.q.accepted;
  in.now = now_s();
  in.retry_until = e.q.accepted + s_.retry.queuetime.count();
  in.max_full_bytes = s_.dsnlimit;
  if (original) in.original = std::move(*original);
  for (int i : rcpts) {
    const auto& r = e.q.rcpts[static_cast<size_t>(i)];
    DsnRecipient d;
    d.address = r.address;
    d.orcpt = r.orcpt;
    d.status = r.status.empty() ? (kind == DsnKind::delay ? "4.0.0" : "5.0.0") : r.status;
    d.action = kind == DsnKind::delay ? "delayed"
               : kind == DsnKind::success ? (r.final_kind == FinalKind::relayed ? "relayed" : "delivered")
                                          : "failed";
    if (kind == DsnKind::failure && d.status[0] == '4') d.status[0] = '5';
    d.diagnostic = r.text.empty() ? "" : (r.text.rfind("smtp;", 0) == 0 ? r.text : "x-courier; " + r.text);
    d.last_attempt = r.when;
    in.recipients.push_back(std::move(d));
  }
  std::string dsn = build_dsn(in);
  auto qid = submit_message(s_.queuedir, "", {{to, "NEVER"}}, dsn, client);
  if (!qid) {
    lib::log::error("id=%s: cannot queue the %s notice to <%s>: %s", e.q.qid.c_str(),
                    kind == DsnKind::failure ? "failure" : kind == DsnKind::delay ? "delay" : "success", to.c_str(),
                    qid.error().message.c_str());
    return false;
  }
  lib::log::info("id=%s: %s notice to <%s> queued as id=%s", e.q.qid.c_str(),
                 kind == DsnKind::failure ? "failure" : kind == DsnKind::delay ? "delay" : "success", to.c_str(),
                 qid->c_str());
  timeval zero{0, 0};
  event_add(scan_ev_.get(), &zero);
  return true;
}

void Scheduler::finalize(Entry& e) {
  std::string qid = e.q.qid;
  if (!e.q.complete) {
    std::vector<int> failed, succeeded;
    for (size_t i = 0; i < e.q.rcpts.size(); ++i) {
      const auto& r = e.q.rcpts[i];
      // A failed bounce (null sender, NOTIFY=NEVER) still goes to the postmaster once.
      if (r.final_kind == FinalKind::failed && (e.q.sender.empty() || notify_wants(r.notify, DsnKind::failure)))
        failed.push_back(static_cast<int>(i));
      // Success notices: for local deliveries and for relays to servers without DSN.
      // A server that speaks DSN got NOTIFY passed on ("smtp; ..." text) and reports itself.
      bool relayed_with_dsn = r.final_kind == FinalKind::delivered && r.text.rfind("smtp;", 0) == 0;
      if ((r.final_kind == FinalKind::delivered || r.final_kind == FinalKind::relayed) && !relayed_with_dsn &&
          notify_wants(r.notify, DsnKind::success))
        succeeded.push_back(static_cast<int>(i));
    }
    bool backscatter_blocked = false;
    if (!failed.empty() && (e.q.protocol == "ESMTP" || e.q.protocol == "ESMTPS")) {
      for (const auto& b : s_.block_backscatter)
        if (b == "smtp/dsn" || b == "esmtp/dsn" || b == "smtp") backscatter_blocked = true;
    }
    if (backscatter_blocked) {
      lib::log::notice("id=%s: failure notice to <%s> not sent (ESMTP_BLOCKBACKSCATTER=%s)", qid.c_str(),
                       e.q.sender.c_str(), "smtp/dsn");
    } else if (!failed.empty() && !queue_dsn(e, DsnKind::failure, failed)) {
      e.q.next_attempt = now_s() + 60;  // the notice must not be lost: try again in a minute
      return;
    }
    if (!succeeded.empty() && !e.q.sender.empty() && !queue_dsn(e, DsnKind::success, succeeded)) {
      e.q.next_attempt = now_s() + 60;
      return;
    }
    // C says "the notices are queued"; with no notice to queue it would only cost an
    // fdatasync per message: every outcome is durable already, and a crash before the
    // removal below makes the next start finalize again, queueing nothing twice.
    if (!failed.empty() || !succeeded.empty()) {
      if (auto ok = append_complete(s_.queuedir, qid, now_s()); !ok) {
        lib::log::error("id=%s: %s", qid.c_str(), ok.error().message.c_str());
        return;
      }
    }
    e.q.complete = true;
  }
  if (auto ok = remove_message(s_.queuedir, qid); !ok) {
    lib::log::error("id=%s: %s", qid.c_str(), ok.error().message.c_str());
    return;
  }
  lib::log::info("id=%s: complete, removed from the queue", qid.c_str());
  msgs_.erase(qid);
}

int Scheduler::run() {
  if (auto ok = open_trigger(); !ok) {
    lib::log::critical("courierd: %s", ok.error().message.c_str());
    return 1;
  }
  trigger_ev_.reset(event_new(base_.get(), trigger_rd_.get(), EV_READ | EV_PERSIST, on_trigger, this));
  event_add(trigger_ev_.get(), nullptr);
  scan_ev_.reset(evtimer_new(base_.get(), on_scan, this));
  timeval zero{0, 0};
  event_add(scan_ev_.get(), &zero);
  tick_ev_.reset(event_new(base_.get(), -1, EV_PERSIST, on_tick, this));
  timeval second{1, 0};
  event_add(tick_ev_.get(), &second);
  evutil_make_socket_nonblocking(o_.helper_socket);
  helper_ev_.reset(event_new(base_.get(), o_.helper_socket, EV_READ | EV_PERSIST, on_helper, this));
  event_add(helper_ev_.get(), nullptr);
  for (int sig : {SIGTERM, SIGINT, SIGCHLD}) {
    lib::Event ev(evsignal_new(base_.get(), sig, on_signal, this));
    event_add(ev.get(), nullptr);
    signal_evs_.push_back(std::move(ev));
  }
  ::signal(SIGPIPE, SIG_IGN);
  lib::log::notice("courierd: scheduler started; queue %s, %zu local domain(s) besides %s, DEFAULTDELIVERY=%s",
                   s_.queuedir.c_str(), s_.locals.size() + s_.hosteddomains.size(), s_.me.c_str(),
                   quote(s_.default_delivery).c_str());
  event_base_dispatch(base_.get());
  lib::log::notice("courierd: stopped (%d deliveries were still in progress; they will be retried)", total_in_flight());
  return 0;
}

}  // namespace

int run_scheduler(const Settings& settings, const SchedulerOptions& options) {
  Scheduler s(settings, options);
  return s.run();
}

}  // namespace courierd
