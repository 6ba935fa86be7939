// imapd/imapd_main.cpp: imapd, the IMAP server after authentication. Exec'ed
// by imaplogin as the account (uid, gid, cwd = home) with AUTHENTICATED,
// MAILDIR, IMAPLOGINTAG... in the environment and the client on fd 0/1; as
// Courier's, "imapd [Maildir]" names the maildir relative to the home
// directory when the account sets none (MAILDIRPATH otherwise).
// SECURITY: runs as the mail account, never as root; reads untrusted client
// commands (bounded, imapd/command_reader.hpp) and the account's own files.
#include <signal.h>
#include <unistd.h>

#include <string>

#include "imapd/session.hpp"
#include "imapd/settings.hpp"
#include "lib/io.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

extern char** environ;

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  imapd::Settings settings = imapd::settings_from_environment(environ);
  lib::log::open("imapd", lib::log::service_options(settings.log_file, settings.log_to_stderr));
  lib::io::Writer writer(1);
  const char* login = std::getenv("AUTHENTICATED");
  if (!login || !*login) {
    lib::log::error("imapd started without AUTHENTICATED in the environment: it is run by imaplogin after a login "
                    "(couriertcpd ... imaplogin %s/imapd Maildir)", LIBEXECDIR);
    writer.append("* BYE imapd must be started by imaplogin.\r\n");
    (void)writer.flush();
    return 1;
  }
  if (::geteuid() == 0) {
    lib::log::error("imapd refuses to run as root (user %s): imaplogin should have switched to the account", login);
    writer.append("* BYE Server error.\r\n");
    (void)writer.flush();
    return 1;
  }
  std::string maildir;
  const char* env_maildir = std::getenv("MAILDIR");
  if (env_maildir && *env_maildir) maildir = env_maildir;
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
      const char* tag = std::getenv("IMAPLOGINTAG");
      writer.append(std::string(tag && *tag ? tag : "*") + " NO [UNAVAILABLE] Cannot open the mailbox, see the server log.\r\n");
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
  const char* tag = std::getenv("IMAPLOGINTAG");
  imapd::Session session(settings, maildir, login, reader, writer);
  return session.run(tag ? tag : "");
}
