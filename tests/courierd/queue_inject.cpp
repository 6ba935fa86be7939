// tests/courierd/queue_inject: queues a message for the integration tests, the way a
// submitter does (QUEUE-SPEC.md), then pokes courierd's trigger.
//   queue_inject [-f sender] [-N notify] [-P protocol] [-A auth-user] rcpt... < message
// Prints the queue id.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "courierd/queue_access.hpp"

int main(int argc, char** argv) {
  std::string sender = "sender@example.org", notify, queuedir, protocol = "LOCAL", auth;
  std::vector<courierd::NewRecipient> rcpts;
  const char* env = std::getenv("COURIER_QUEUEDIR");
  if (!env) {
    std::fprintf(stderr, "queue_inject: set COURIER_QUEUEDIR\n");
    return 64;
  }
  queuedir = env;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-f" && i + 1 < argc) sender = argv[++i];
    else if (a == "-N" && i + 1 < argc) notify = argv[++i];
    else if (a == "-P" && i + 1 < argc) protocol = argv[++i];
    else if (a == "-A" && i + 1 < argc) auth = argv[++i];
    else rcpts.push_back({a, notify});
  }
  std::string data((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (auto ok = courierd::ensure_queue_layout(queuedir); !ok) {
    std::fprintf(stderr, "queue_inject: %s\n", ok.error().message.c_str());
    return 75;
  }
  auto qid = courierd::submit_message(queuedir, sender, rcpts, data, "queue_inject (test)", protocol, auth);
  if (!qid) {
    std::fprintf(stderr, "queue_inject: %s\n", qid.error().message.c_str());
    return 75;
  }
  int fd = ::open((queuedir + "/trigger").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t ignored = ::write(fd, "x", 1);
    (void)ignored;
    ::close(fd);
  }
  std::printf("%s\n", qid->c_str());
  return 0;
}
