// imapd/imapd_main.cpp: imapd, the IMAP server after authentication. Exec'ed
// by imaplogin as the account (uid, gid, cwd = home) with AUTHENTICATED,
// MAILDIR, IMAPLOGINTAG... in the environment and the client on fd 0/1; as
// Courier's, "imapd [Maildir]" names the maildir relative to the home
// directory when the account sets none (MAILDIRPATH otherwise).
// SECURITY: runs as the mail account, never as root; reads untrusted client
// commands (bounded, imapd/command_reader.hpp) and the account's own files.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "imapd/handoff.hpp"
#include "imapd/session.hpp"
#include "imapd/settings.hpp"
#include "lib/io.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/privileges.hpp"

extern char** environ;

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  imapd::Settings settings = imapd::settings_from_environment(environ);
  lib::log::open("imapd", lib::log::service_options(settings.log_file, settings.log_to_stderr));
  lib::io::Writer writer(1);
  auto handoff = imapd::Handoff::from_environment(environ);
  if (!handoff) {
    lib::log::error("%s", handoff.error().message.c_str());
    writer.append("* BYE imapd must be started by imaplogin.\r\n");
    (void)writer.flush();
    return 1;
  }
  const char* login = handoff->login.c_str();
  if (auto not_root = lib::refuse_root("imapd"); !not_root) {
    lib::log::error("%s (user %s): imaplogin should have switched to the account", not_root.error().message.c_str(),
                    login);
    writer.append("* BYE Server error.\r\n");
    (void)writer.flush();
    return 1;
  }
  std::string maildir;
  if (!handoff->maildir.empty()) maildir = handoff->maildir;
  else if (argc > 1 && argv[1][0]) maildir = argv[1];
  else maildir = settings.maildir_path;
  if (maildir[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) maildir = std::string(cwd) + "/" + maildir;
  }
  if (::access((maildir + "/cur").c_str(), F_OK) != 0) {
    auto made = lib::maildir::create_maildir(maildir);
    if (!made) {
      lib::log::error("user=%s: maildir %s cannot be opened or created: %s", login, maildir.c_str(),
                      made.error().message.c_str());
      const std::string& tag = handoff->tag;
      writer.append((tag.empty() ? std::string("*") : tag) + " NO [UNAVAILABLE] Cannot open the mailbox, see the server log.\r\n");
      (void)writer.flush();
      return 1;
    }
    lib::log::notice("user=%s: created maildir %s", login, maildir.c_str());
  }
  if (!settings.empty_trash.empty()) imapd::empty_trash(maildir, settings.empty_trash);
  lib::io::ReaderOptions ro;
  ro.max_line_bytes = settings.max_line_bytes;
  int ms = static_cast<int>(settings.session_timeout.count() * 1000);
  ro.read_timeout_ms = ms;
  ro.idle_timeout_ms = ms;
  lib::io::Reader reader(0, ro);
  reader.push_front(handoff->pipelined);  // commands sent along with the login come first
  // Replies go out whole (the session flushes once per command, FETCH corks
  // its bodies: imapd/body_stream.hpp); no Nagle delay for the last segment
  // of a reply, which would otherwise wait for the client's delayed ACK.
  int one = 1;
  (void)::setsockopt(1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  imapd::Session session(settings, maildir, login, reader, writer);
  return session.run(handoff->tag);
}
