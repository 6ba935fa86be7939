// esmtpd/mailq.cpp: see mailq.hpp.
#include "esmtpd/mailq.hpp"

#include <algorithm>
#include <ctime>
#include <vector>

#include "lib/queue.hpp"

namespace esmtpd {

namespace {

std::string short_date(std::time_t t) {
  char buf[64];
  struct tm tm;
  ::localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a %b %d %H:%M", &tm);
  return buf;
}

std::string user_of(const lib::queue::Envelope& e) {
  if (e.auth_user) return *e.auth_user;
  // "local uid N (user)" from sendmail.
  auto open = e.client.rfind('('), close = e.client.rfind(')');
  if (e.protocol == "LOCAL" && open != std::string::npos && close > open) return e.client.substr(open + 1, close - open - 1);
  return "-";
}

// "delivered", "failed", "deferred: <text>" or "" (waiting).
std::string status_of(const lib::queue::Envelope& e, std::size_t i) {
  if (const auto* f = e.final_for(i)) return std::string(lib::queue::kind_name(f->kind)) + " " + f->status;
  std::string last;
  for (const auto& d : e.deferrals)
    if (d.rcpt == i) last = "deferred " + d.status + " " + d.text;
  return last;
}

}  // namespace

int print_queue(const std::string& dir, bool batch, FILE* out, FILE* err) {
  long pid = 0;
  bool running = lib::queue::courierd_running(dir, &pid);
  if (!running) std::fprintf(err, "mailq: %s\n", lib::queue::not_running_message(dir).c_str());
  auto list = lib::queue::list_messages(dir);
  if (!list) {
    std::fprintf(err, "mailq: %s\n", list.error().message.c_str());
    return 1;
  }
  std::vector<lib::queue::Envelope> messages;
  int status = 0;
  for (const auto& qid : *list) {
    auto e = lib::queue::read_control(lib::queue::control_path(dir, qid));
    if (!e) {
      // Delivered and removed while we were looking: not an error.
      if (e.error().temporary()) continue;
      std::fprintf(err, "mailq: %s\n", e.error().message.c_str());
      status = 1;
      continue;
    }
    messages.push_back(std::move(*e));
  }
  std::sort(messages.begin(), messages.end(),
            [](const auto& a, const auto& b) { return a.accepted < b.accepted; });
  for (const auto& e : messages) {
    if (batch) {
      std::string line = std::to_string(e.size) + ";" + e.qid + ";" +
                         std::to_string(static_cast<long long>(e.accepted)) + ";" + user_of(e) + ";" + e.sender;
      for (std::size_t i = 0; i < e.recipients.size(); ++i) {
        std::string st = status_of(e, i);
        line += ";" + (st.empty() ? std::string("queued") : st.substr(0, st.find(' '))) + ";" + e.recipients[i].address;
      }
      std::fprintf(out, "%s\n", line.c_str());
      continue;
    }
    std::fprintf(out, "%s %8llu %s %s\n", e.qid.c_str(), static_cast<unsigned long long>(e.size),
                 short_date(e.accepted).c_str(), user_of(e).c_str());
    std::fprintf(out, "  <%s>\n", e.sender.c_str());
    for (std::size_t i = 0; i < e.recipients.size(); ++i) {
      std::string st = status_of(e, i);
      std::fprintf(out, "  <%s>%s%s\n", e.recipients[i].address.c_str(), st.empty() ? "" : " - ", st.c_str());
    }
  }
  if (!batch) {
    std::fprintf(out, "%zu message%s in the queue %s%s\n", messages.size(), messages.size() == 1 ? "" : "s",
                 dir.c_str(), running ? "" : " (courierd is not running)");
  }
  return status;
}

}  // namespace esmtpd
