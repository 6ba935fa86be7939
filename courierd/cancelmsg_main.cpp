// cancelmsg: cancels a queued message, as Courier's cancelmsg does:
//   cancelmsg QID ["reason"]
// Every recipient not yet delivered is marked failed (5.0.0, with the reason) in the
// control file; courierd is asked to look at the message again, sends the failure
// notice to the sender and removes the message. Run as root or the mail user.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <string>

#include "courierd/queue_access.hpp"
#include "courierd/settings.hpp"
#include "lib/unique_fd.hpp"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fprintf(stderr, "usage: cancelmsg QID [\"reason\"]\n"
                         "  fails every undelivered recipient of the queued message QID (see mailq) and\n"
                         "  sends the sender a failure notice. See cancelmsg(1).\n");
    return argc < 2 || argc > 3 ? 64 : 0;
  }
  std::string qid = argv[1];
  std::string reason = argc > 2 ? argv[2] : "cancelled by the mail administrator";
  for (char c : qid)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.')) {
      std::fprintf(stderr, "cancelmsg: \"%s\" is not a queue id (mailq lists them)\n", qid.c_str());
      return 64;
    }
  auto settings = courierd::load_settings("");
  if (!settings) {
    std::fprintf(stderr, "cancelmsg: %s\n", settings.error().message.c_str());
    return 78;
  }
  auto msg = courierd::load_message(settings->queuedir, qid);
  if (!msg) {
    std::fprintf(stderr, "cancelmsg: message %s: %s\n", qid.c_str(), msg.error().message.c_str());
    return 1;
  }
  int cancelled = 0;
  for (size_t i = 0; i < msg->rcpts.size(); ++i) {
    if (msg->rcpts[i].final_kind) continue;
    if (auto ok = courierd::append_final(settings->queuedir, qid, static_cast<int>(i), courierd::FinalKind::failed,
                                         "5.0.0", reason, std::time(nullptr));
        !ok) {
      std::fprintf(stderr, "cancelmsg: %s\n", ok.error().message.c_str());
      return 1;
    }
    ++cancelled;
  }
  std::printf("cancelmsg: %s: %d recipient(s) cancelled\n", qid.c_str(), cancelled);
  std::string trigger = settings->queuedir + "/trigger";
  lib::UniqueFd fd(::open(trigger.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  std::string text = "flush " + qid + "\n";
  if (!fd || ::write(fd.get(), text.data(), text.size()) < 0)
    std::printf("cancelmsg: courierd is not running; the failure notice goes out when it starts (courier start)\n");
  return 0;
}
