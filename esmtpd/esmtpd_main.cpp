// esmtpd: the SMTP server, one process per connection, started by couriertcpd with
// the socket on fds 0/1 and the settings of sysconfdir/esmtpd (esmtpd-msa,
// esmtpd-ssl) in the environment. See esmtpd(8).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "esmtpd/aliases.hpp"
#include "esmtpd/session.hpp"
#include "lib/log.hpp"

namespace {

void open_log() {
  lib::log::Options o;
  const char* file = std::getenv("LOGFILE");
  if (file && *file) {
    o.target = lib::log::Target::file;
    o.file_path = file;
  } else if (std::getenv("ESMTPD_LOG_STDERR")) {
    o.target = lib::log::Target::stderr;
  } else {
    o.target = lib::log::Target::syslog;
  }
  lib::log::open("esmtpd", o);
}

void say_and_exit(const std::string& reply) {
  std::string line = reply + "\r\n";
  (void)!::write(1, line.data(), line.size());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::puts("usage: esmtpd   (run by couriertcpd, the socket on fds 0 and 1; see esmtpd(8))");
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "--check-queue") == 0) {
    // For the start scripts: make the queue's folders, say whether courierd runs.
    std::string dir = lib::queue::queue_dir();
    if (auto r = lib::queue::ensure_layout(dir); !r) {
      std::fprintf(stderr, "esmtpd: %s\n", r.error().message.c_str());
      return 1;
    }
    if (!lib::queue::courierd_running(dir))
      std::fprintf(stderr, "esmtpd: warning: %s\n", lib::queue::not_running_message(dir).c_str());
    return 0;
  }
  ::signal(SIGPIPE, SIG_IGN);
  open_log();
  if (::geteuid() == 0) {
    lib::log::error("esmtpd refuses to run as root: give couriertcpd -user=MAILUSER -group=MAILGROUP "
                    "(the esmtpd start script does)");
    say_and_exit("421 4.3.5 Server configuration error");
  }
  auto settings = esmtpd::Settings::from_environment();
  if (!settings) {
    lib::log::error("%s", settings.error().message.c_str());
    say_and_exit("421 4.3.5 Server configuration error, try again later");
  }
  for (const auto& w : settings->bofh.warnings) lib::log::warning("%s", w.c_str());
  auto domains = esmtpd::Domains::load(settings->sysconfdir);
  if (!domains) {
    lib::log::error("%s", domains.error().message.c_str());
    say_and_exit("421 4.3.5 Server configuration error, try again later");
  }
  std::shared_ptr<lib::DbFile> aliases;
  std::string dat = settings->sysconfdir + "/aliases.dat";
  if (::access(dat.c_str(), F_OK) == 0) {
    auto db = lib::DbFile::open_read(dat, "makealiases");
    if (!db) {
      lib::log::error("%s", db.error().message.c_str());
      say_and_exit("421 4.3.5 Server configuration error, try again later");
    }
    aliases = std::make_shared<lib::DbFile>(std::move(*db));
  }
  esmtpd::RecipientPolicy policy(std::move(*domains), aliases, settings->authdaemon_socket);
  esmtpd::Session session(std::move(*settings), std::move(policy));
  return session.run();
}
