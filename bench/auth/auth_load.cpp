// bench/auth/auth_load.cpp: load generator for authdaemon sockets, ours and
// Courier's (both speak the protocol of authlib/protocol.hpp).
//
// Forks --clients processes; each opens one connection per request, as the
// mail services do, sends one request in one write and reads the reply:
//   --mode auth   AUTH <len>\n imap\nlogin\n<user>\n<password>\n  -> account lines, ".\n"
//   --mode fail   the same with a wrong password of the same length -> "FAIL\n"
//   --mode pre    PRE . imap <user>\n                              -> account lines, ".\n"
// An account reply counts as a success only when it carries HOME=<the
// account's home>, so a daemon that answers for the wrong user is caught.
// Anything else (another reply, a closed connection, a timeout) is an error.
//
// Requests are counted when they complete inside the measuring window
// [start + warmup, start + warmup + duration]. Prints one JSON object on
// stdout: rate, errors (with the first one's text), latency percentiles and
// the CPU time the clients themselves used, to show whether the generator is
// what limits the rate.
//
// Build: g++ -std=c++20 -O2 -Wall -Wextra -o auth_load auth_load.cpp
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr size_t max_reply_bytes = 64 * 1024;
constexpr int reply_timeout_ms = 30000;
constexpr int max_clients = 512;
// Latency histogram: bucket i holds latencies around exp(i / 100) microseconds
// (1 % resolution), up to about 10^8 us.
constexpr int histogram_buckets = 1850;

struct Options {
  std::string socket_path;
  std::string mode = "auth";
  std::string accounts_path;
  std::string service = "imap";
  int clients = 4;
  double warmup_s = 1.0;
  double duration_s = 5.0;
};

struct Account {
  std::string user, password, home;
};

struct Request {
  std::string bytes;         // sent in one write
  std::string expect_home;   // empty: expect "FAIL\n"
};

// What a client process reports to the parent through its pipe.
struct ClientReport {
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::array<uint64_t, histogram_buckets> histogram{};
  char first_error[256] = {};
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "auth_load: %s\nusage: auth_load --socket PATH --accounts FILE [--mode auth|fail|pre] "
               "[--clients N] [--warmup-s S] [--duration-s S] [--service NAME]\n"
               "  FILE: one account per line, user<TAB>password<TAB>home\n",
               why);
  std::exit(64);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + std::string(a)).c_str());
    const char* v = argv[++i];
    if (a == "--socket") o.socket_path = v;
    else if (a == "--mode") o.mode = v;
    else if (a == "--accounts") o.accounts_path = v;
    else if (a == "--service") o.service = v;
    else if (a == "--clients") o.clients = std::atoi(v);
    else if (a == "--warmup-s") o.warmup_s = std::atof(v);
    else if (a == "--duration-s") o.duration_s = std::atof(v);
    else usage(("unknown option " + std::string(a)).c_str());
  }
  if (o.socket_path.empty() || o.accounts_path.empty()) usage("--socket and --accounts are required");
  if (o.socket_path.size() >= sizeof(sockaddr_un{}.sun_path)) usage("--socket path is too long");
  if (o.mode != "auth" && o.mode != "fail" && o.mode != "pre") usage("--mode must be auth, fail or pre");
  if (o.clients < 1 || o.clients > max_clients) usage("--clients must be 1..512");
  if (!(o.duration_s > 0) || !(o.warmup_s >= 0)) usage("--duration-s must be > 0, --warmup-s >= 0");
  return o;
}

std::vector<Account> read_accounts(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "auth_load: cannot open %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(66);
  }
  std::vector<Account> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    auto t1 = line.find('\t');
    auto t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string::npos) {
      std::fprintf(stderr, "auth_load: %s:%d: expected user<TAB>password<TAB>home\n", path.c_str(), n);
      std::exit(65);
    }
    Account a{line.substr(0, t1), line.substr(t1 + 1, t2 - t1 - 1), line.substr(t2 + 1)};
    if (a.user.empty() || a.password.empty() || a.home.empty() || a.user.find(' ') != std::string::npos) {
      std::fprintf(stderr, "auth_load: %s:%d: empty field, or a space in the user name\n", path.c_str(), n);
      std::exit(65);
    }
    out.push_back(std::move(a));
  }
  if (out.empty()) {
    std::fprintf(stderr, "auth_load: %s holds no accounts\n", path.c_str());
    std::exit(65);
  }
  return out;
}

std::vector<Request> build_requests(const Options& o, const std::vector<Account>& accounts) {
  std::vector<Request> out;
  for (const auto& a : accounts) {
    Request r;
    if (o.mode == "pre") {
      r.bytes = "PRE . " + o.service + " " + a.user + "\n";
      r.expect_home = a.home;
    } else {
      // The wrong password has the right one's length: crypt(3)'s cost grows
      // with the length, and "fail" should differ from "auth" in nothing else.
      std::string password = a.password;
      if (o.mode == "fail") password.back() = password.back() == 'x' ? 'y' : 'x';
      std::string payload = o.service + "\nlogin\n" + a.user + "\n" + password + "\n";
      r.bytes = "AUTH " + std::to_string(payload.size()) + "\n" + payload;
      if (o.mode == "auth") r.expect_home = a.home;
    }
    out.push_back(std::move(r));
  }
  return out;
}

double now_s() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void sleep_until(double t) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(t);
  ts.tv_nsec = static_cast<long>((t - static_cast<double>(ts.tv_sec)) * 1e9);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// A JSON string body: quotes, backslashes and control characters escaped.
std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", c);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

bool reply_complete(std::string_view r) {
  return r == "FAIL\n" || r == ".\n" || (r.size() >= 3 && r.substr(r.size() - 3) == "\n.\n");
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 120)) {
    if (c == '\n') out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') out += '?';
    else out += c;
  }
  return out;
}

// One request on a new connection. Returns "" on the expected reply, else
// what went wrong.
std::string do_request(const sockaddr_un& addr, const Request& req, std::string& reply) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return std::string("connect: ") + std::strerror(errno);
  size_t sent = 0;
  while (sent < req.bytes.size()) {
    ssize_t n = ::send(fd, req.bytes.data() + sent, req.bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("send: ") + std::strerror(errno);
    sent += static_cast<size_t>(n);
  }
  reply.clear();
  char buf[4096];
  while (!reply_complete(reply)) {
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, reply_timeout_ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) return "no reply within " + std::to_string(reply_timeout_ms) + " ms";
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("read: ") + std::strerror(errno);
    if (n == 0) return "connection closed after \"" + printable(reply) + "\"";
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > max_reply_bytes) return "reply over 64 KB";
  }
  if (req.expect_home.empty())
    return reply == "FAIL\n" ? "" : "expected FAIL, got \"" + printable(reply) + "\"";
  if (reply == "FAIL\n") return "FAIL for an account that should succeed";
  std::string home_line = "HOME=" + req.expect_home + "\n";
  if (reply.compare(0, home_line.size(), home_line) != 0 && reply.find("\n" + home_line) == std::string::npos)
    return "account reply without " + printable(home_line) + ": \"" + printable(reply) + "\"";
  return "";
}

int bucket_of(double us) {
  int b = static_cast<int>(std::log(us < 1 ? 1 : us) * 100.0);
  return b < histogram_buckets ? b : histogram_buckets - 1;
}

[[noreturn]] void client_main(int index, const Options& o, const std::vector<Request>& requests, double start,
                              int out_fd) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, o.socket_path.data(), o.socket_path.size());
  ClientReport report_storage;
  ClientReport* report = &report_storage;
  const double window_start = start + o.warmup_s;
  const double window_end = window_start + o.duration_s;
  // Clients start at different accounts so they do not walk in step.
  size_t next = static_cast<size_t>(index) * requests.size() / static_cast<size_t>(o.clients);
  std::string reply;
  sleep_until(start);
  for (;;) {
    double t0 = now_s();
    if (t0 >= window_end) break;
    const Request& req = requests[next];
    next = (next + 1) % requests.size();
    std::string error = do_request(addr, req, reply);
    double t1 = now_s();
    if (t1 < window_start || t1 >= window_end) continue;
    if (error.empty()) {
      ++report->ok;
      ++report->histogram[static_cast<size_t>(bucket_of((t1 - t0) * 1e6))];
    } else {
      if (report->errors++ == 0) std::snprintf(report->first_error, sizeof report->first_error, "%s", error.c_str());
    }
  }
  const char* p = reinterpret_cast<const char*>(report);
  size_t left = sizeof *report;
  while (left > 0) {
    ssize_t n = ::write(out_fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(70);
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::_exit(0);
}

bool read_report(int fd, ClientReport& r) {
  char* p = reinterpret_cast<char*>(&r);
  size_t left = sizeof r;
  while (left > 0) {
    ssize_t n = ::read(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

double percentile_us(const std::array<uint64_t, histogram_buckets>& h, uint64_t total, double q) {
  if (total == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < histogram_buckets; ++i) {
    seen += h[static_cast<size_t>(i)];
    if (seen >= rank) return std::exp((i + 0.5) / 100.0);
  }
  return std::exp(histogram_buckets / 100.0);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  auto requests = build_requests(o, read_accounts(o.accounts_path));
  const double launched = now_s();
  const double start = launched + 0.2;  // time for every client to be forked
  std::vector<int> fds;
  std::vector<pid_t> pids;
  for (int i = 0; i < o.clients; ++i) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      std::perror("auth_load: pipe");
      return 71;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("auth_load: fork");
      return 71;
    }
    if (pid == 0) {
      ::close(p[0]);
      client_main(i, o, requests, start, p[1]);
    }
    ::close(p[1]);
    fds.push_back(p[0]);
    pids.push_back(pid);
  }
  ClientReport total;
  std::string first_error;
  bool lost = false;
  for (size_t i = 0; i < fds.size(); ++i) {
    ClientReport r;
    if (!read_report(fds[i], r)) {
      lost = true;
      continue;
    }
    total.ok += r.ok;
    total.errors += r.errors;
    for (size_t b = 0; b < total.histogram.size(); ++b) total.histogram[b] += r.histogram[b];
    if (first_error.empty() && r.first_error[0]) first_error = r.first_error;
    ::close(fds[i]);
  }
  for (pid_t pid : pids) {
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) lost = true;
  }
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  double wall_s = now_s() - launched;
  std::printf(
      "{\"mode\": \"%s\", \"clients\": %d, \"duration_s\": %.3f, \"ok\": %llu, \"errors\": %llu, "
      "\"rate_per_s\": %.1f, \"latency_us\": {\"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f}, "
      "\"client_cpu_s\": %.3f, \"wall_s\": %.3f, \"clients_lost\": %s, \"first_error\": \"%s\"}\n",
      o.mode.c_str(), o.clients, o.duration_s, static_cast<unsigned long long>(total.ok),
      static_cast<unsigned long long>(total.errors), static_cast<double>(total.ok) / o.duration_s,
      percentile_us(total.histogram, total.ok, 0.50), percentile_us(total.histogram, total.ok, 0.90),
      percentile_us(total.histogram, total.ok, 0.99), cpu_s, wall_s, lost ? "true" : "false",
      json_escape(first_error).c_str());
  return lost ? 70 : 0;
}
