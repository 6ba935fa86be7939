// mailq: lists the mail queue (Courier's output; -batch: one line per message).
// Says when courierd is not running. See mailq(1).
#include <cstdio>
#include <cstring>
#include <string>

#include "esmtpd/mailq.hpp"
#include "lib/queue.hpp"

int main(int argc, char** argv) {
  bool batch = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-batch") batch = true;
    else if (a == "-sort") continue;  // always oldest first
    else {
      std::fprintf(stderr, "usage: mailq [-batch] [-sort]\n");
      return a == "--help" ? 0 : 64;
    }
  }
  return esmtpd::print_queue(lib::queue::queue_dir(), batch, stdout, stderr);
}
