// courierd/queue_access.cpp: see queue_access.hpp. STOP-GAP until lib/queue lands
// (QUEUE-SPEC.md): reads and appends the control file as the spec says.
#include "courierd/queue_access.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <charconv>
#include <random>

#include "lib/config.hpp"
#include "lib/unique_fd.hpp"

namespace courierd {

const char* final_kind_name(FinalKind kind) {
  switch (kind) {
    case FinalKind::delivered: return "delivered";
    case FinalKind::failed: return "failed";
    case FinalKind::relayed: return "relayed";
  }
  return "?";
}

std::string ctl_path(const std::string& q, const std::string& qid) { return q + "/msgs/" + qid + ".ctl"; }
std::string data_path(const std::string& q, const std::string& qid) { return q + "/msgs/" + qid + ".data"; }

namespace {

std::vector<std::string> split_tabs(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    auto tab = s.find('\t', pos);
    out.emplace_back(s.substr(pos, tab == std::string_view::npos ? std::string_view::npos : tab - pos));
    if (tab == std::string_view::npos) break;
    pos = tab + 1;
  }
  return out;
}

long long to_ll(std::string_view s) {
  long long v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string clean(std::string_view s) {
  std::string out;
  for (char c : s) out += (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
  return out;
}

lib::Result<void> append_line(const std::string& q, const std::string& qid, const std::string& line) {
  std::string path = ctl_path(q, qid);
  lib::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd) return lib::temporary_error("cannot open " + path + " to record an outcome: " + lib::errno_text(errno));
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return lib::temporary_error("writing " + path + ": " + lib::errno_text(errno));
  if (::fdatasync(fd.get()) != 0) return lib::temporary_error("fdatasync " + path + ": " + lib::errno_text(errno));
  return {};
}

lib::Result<void> fsync_dir(const std::string& dir) {
  lib::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return lib::temporary_error("fsync " + dir + ": " + lib::errno_text(errno));
  return {};
}

lib::Result<void> write_file(const std::string& path, const std::string& text) {
  lib::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!fd) return lib::temporary_error("cannot create " + path + ": " + lib::errno_text(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return lib::temporary_error("writing " + path + ": " + lib::errno_text(errno));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return lib::temporary_error("fsync " + path + ": " + lib::errno_text(errno));
  return {};
}

}  // namespace

lib::Result<void> ensure_queue_layout(const std::string& q) {
  for (std::string d : {q, q + "/tmp", q + "/msgs"}) {
    if (::mkdir(d.c_str(), 0750) != 0 && errno != EEXIST)
      return lib::temporary_error("cannot create " + d + ": " + lib::errno_text(errno));
  }
  return {};
}

lib::Result<std::vector<std::string>> list_queue(const std::string& q) {
  std::string dir = q + "/msgs";
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return lib::temporary_error("cannot read " + dir + ": " + lib::errno_text(errno));
  }
  std::vector<std::string> out;
  while (auto* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".ctl") == 0) out.push_back(name.substr(0, name.size() - 4));
  }
  std::sort(out.begin(), out.end());
  return out;
}

lib::Result<QueuedMessage> load_message(const std::string& q, const std::string& qid) {
  std::string path = ctl_path(q, qid);
  auto text = lib::read_small_file(path, 64 * 1024 * 1024);
  if (!text) return text.error();
  QueuedMessage m;
  m.qid = qid;
  size_t pos = 0;
  int line_no = 0;
  const std::string& t = *text;
  while (pos < t.size()) {
    auto nl = t.find('\n', pos);
    if (nl == std::string::npos) break;  // a torn last append
    std::string_view line(t.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.size() < 2 || line[1] != ' ')
      return lib::permanent_error(path + ":" + std::to_string(line_no) + ": malformed record");
    std::string_view v = line.substr(2);
    auto f = split_tabs(v);
    switch (line[0]) {
      case 'V': case 'Q': case 'Z': break;
      case 'T': m.accepted = to_ll(v); break;
      case 'S': m.sender = v; break;
      case 'A': m.auth_user = v; break;
      case 'F': m.client = v; break;
      case 'P': m.protocol = v; break;
      case 'B': m.body_type = v; break;
      case 'U': m.smtputf8 = true; break;
      case 'E': m.envid = v; break;
      case 'N': m.ret = v; break;
      case 'R': {
        RecipientState r;
        r.address = f[0];
        if (f.size() > 1) r.orcpt = f[1];
        if (f.size() > 2) r.notify = f[2];
        m.rcpts.push_back(std::move(r));
        break;
      }
      case 'D': case 'Y': {
        size_t idx = static_cast<size_t>(to_ll(f[0]));
        if (idx >= m.rcpts.size() || f.size() < (line[0] == 'D' ? 5u : 4u))
          return lib::permanent_error(path + ":" + std::to_string(line_no) + ": bad recipient number or fields");
        auto& r = m.rcpts[idx];
        r.when = to_ll(f[1]);
        if (line[0] == 'D') {
          r.final_kind = f[2] == "delivered" ? FinalKind::delivered : f[2] == "relayed" ? FinalKind::relayed
                                                                                       : FinalKind::failed;
          r.status = f[3];
          r.text = f[4];
        } else {
          r.deferrals++;
          r.status = f[2];
          r.text = f[3];
        }
        break;
      }
      case 'W': m.warned = true; break;
      case 'X': m.next_attempt = to_ll(v); break;
      case 'C': m.complete = true; break;
      default:
        return lib::permanent_error(path + ":" + std::to_string(line_no) + ": unknown record '" +
                                    std::string(1, line[0]) + "'");
    }
  }
  return m;
}

lib::Result<void> append_final(const std::string& q, const std::string& qid, int rcpt, FinalKind kind,
                               const std::string& status, const std::string& text, std::time_t when) {
  return append_line(q, qid, "D " + std::to_string(rcpt) + "\t" + std::to_string(when) + "\t" + final_kind_name(kind) +
                                 "\t" + clean(status) + "\t" + clean(text) + "\n");
}
lib::Result<void> append_deferral(const std::string& q, const std::string& qid, int rcpt, const std::string& status,
                                  const std::string& text, std::time_t when) {
  return append_line(q, qid, "Y " + std::to_string(rcpt) + "\t" + std::to_string(when) + "\t" + clean(status) + "\t" +
                                 clean(text) + "\n");
}
lib::Result<void> append_warned(const std::string& q, const std::string& qid, std::time_t when) {
  return append_line(q, qid, "W " + std::to_string(when) + "\n");
}
lib::Result<void> append_next_attempt(const std::string& q, const std::string& qid, std::time_t when) {
  return append_line(q, qid, "X " + std::to_string(when) + "\n");
}
lib::Result<void> append_complete(const std::string& q, const std::string& qid, std::time_t when) {
  return append_line(q, qid, "C " + std::to_string(when) + "\n");
}

lib::Result<void> remove_message(const std::string& q, const std::string& qid) {
  if (::unlink(ctl_path(q, qid).c_str()) != 0 && errno != ENOENT)
    return lib::temporary_error("unlink " + ctl_path(q, qid) + ": " + lib::errno_text(errno));
  if (::unlink(data_path(q, qid).c_str()) != 0 && errno != ENOENT)
    return lib::temporary_error("unlink " + data_path(q, qid) + ": " + lib::errno_text(errno));
  return {};
}

lib::Result<std::string> submit_message(const std::string& q, const std::string& sender,
                                        const std::vector<NewRecipient>& rcpts, const std::string& data,
                                        const std::string& client) {
  static unsigned counter = 0;
  static std::mt19937 rng{std::random_device{}()};
  char qid[64];
  std::snprintf(qid, sizeof qid, "%09llx.%x.%x.%04x", static_cast<unsigned long long>(std::time(nullptr)),
                static_cast<unsigned>(::getpid()), counter++, static_cast<unsigned>(rng() & 0xffff));
  std::string tmp_data = q + "/tmp/" + qid + ".data.tmp", tmp_ctl = q + "/tmp/" + qid + ".ctl.tmp";
  std::string ctl = "V 1\nQ " + std::string(qid) + "\nT " + std::to_string(std::time(nullptr)) + "\nS " + sender +
                    "\nF " + client + "\nP LOCAL\nB 7BIT\nZ " + std::to_string(data.size()) + "\n";
  for (const auto& r : rcpts) ctl += "R " + clean(r.address) + "\t\t" + r.notify + "\n";
  if (auto ok = write_file(tmp_data, data); !ok) return ok.error();
  if (auto ok = write_file(tmp_ctl, ctl); !ok) return ok.error();
  if (::rename(tmp_data.c_str(), data_path(q, qid).c_str()) != 0 ||
      ::rename(tmp_ctl.c_str(), ctl_path(q, qid).c_str()) != 0)
    return lib::temporary_error("rename into " + q + "/msgs: " + lib::errno_text(errno));
  if (auto ok = fsync_dir(q + "/msgs"); !ok) return ok.error();
  return std::string(qid);
}

}  // namespace courierd
