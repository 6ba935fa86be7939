// maildrop/maildrop_main.cpp: the mail delivery agent (maildrop(1)).
//
//   maildrop -d USER [-f SENDER] [-A 'Header: value']... [-w PCT] < message
//   maildrop [options] FILTERFILE [ARG...] < message       (manual mode)
//
// SECURITY: started as root by courierd (or as the suite's user). In delivery
// mode the account is looked up through authdaemond (PRE), never in the
// caller's passwd file; the process then switches to the account's uid/gid
// (authlib::become_account) BEFORE it reads the message or any user file, and
// refuses accounts with uid 0. The message, the filter files and everything
// they name are untrusted and only ever handled as the account.
// Exit codes (sysexits): 0 delivered, 75 try again later, 67 no such account,
// 64 usage, others permanent. Every failure is one log line on stderr.
#include <pwd.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "authlib/client.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "maildrop/delivery.hpp"
#include "maildrop/dot_courier.hpp"
#include "maildrop/filter_parser.hpp"
#include "maildrop/interpreter.hpp"
#include "maildrop/message.hpp"

extern char** environ;

namespace {

using namespace maildrop;

constexpr const char* usage_text =
    "usage: maildrop [-d USER] [-f SENDER] [-A 'Header: value']... [-a] [-V LEVEL]\n"
    "                [-w PERCENT] [-W FILE] [-m] [-M FILTER] [-D UID/GID] [FILTERFILE [ARG...]]\n"
    "Delivers the message on standard input. With -d, USER is looked up through\n"
    "authdaemond and the message goes through " SYSCONFDIR "/maildroprc, ~/.courier*,\n"
    "~/.mailfilter and then $DEFAULT (the account's maildir, else ~/Maildir).\n"
    "Exit codes: 0 delivered, 75 deferred, 67 unknown user. See maildrop(1), maildropfilter(5).\n";

struct Options {
  std::string user;
  bool delivery_mode = false;
  std::string sender;
  bool sender_given = false;
  std::vector<std::string> headers;
  int verbose = 0;
  int warn_percent = 0;
  std::string warn_file;
  bool check_only = false;  // -m / -M: parse the filter, deliver nothing
  std::string embedded_filter;
  std::string uid_gid;  // -D
  std::string filter_file;
  std::vector<std::string> args;
};

[[noreturn]] void die(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void die(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lib::log::vwrite(lib::log::Level::error, fmt, ap);
  va_end(ap);
  std::exit(code);
}

Options parse_args(int argc, char** argv) {
  Options o;
  int i = 1;
  auto value = [&](const char* opt, const char* attached) -> std::string {
    if (*attached) return attached;
    if (i + 1 >= argc) die(ex_usage, "option %s needs a value (see maildrop --help)", opt);
    return argv[++i];
  };
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    }
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;
    const char* rest = argv[i] + 2;
    switch (a[1]) {
      case 'd': o.delivery_mode = true; o.user = value("-d", rest); break;
      case 'f': o.sender = value("-f", rest); o.sender_given = true; break;
      case 'A': o.headers.push_back(value("-A", rest)); break;
      case 'a': break;  // authlib is always used in delivery mode
      case 'V': o.verbose = std::atoi(value("-V", rest).c_str()); break;
      case 'w': o.warn_percent = std::atoi(value("-w", rest).c_str()); break;
      case 'W': o.warn_file = value("-W", rest); break;
      case 'm': o.check_only = true; break;
      case 'M': o.check_only = true; o.embedded_filter = value("-M", rest); break;
      case 'D': o.uid_gid = value("-D", rest); break;
      default: die(ex_usage, "unknown option %s (see maildrop --help)", a.c_str());
    }
  }
  if (i < argc) {
    o.filter_file = argv[i++];
    for (; i < argc; ++i) o.args.push_back(argv[i]);
  }
  for (const auto& h : o.headers)
    if (h.find(':') == std::string::npos || h.find('\n') != std::string::npos)
      die(ex_usage, "-A '%s' is not a header line (Name: value)", h.c_str());
  return o;
}

std::map<std::string, std::string> environment_map() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) env.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)), std::string(eq + 1));
  }
  return env;
}

std::string getenv_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

int exit_for(const lib::Error& e) { return e.temporary() ? ex_tempfail : ex_unavailable; }

// A filter file may be run only if it belongs to us and nobody else may change it.
void check_filter_file(const std::string& path, const struct stat& st, const std::string& account) {
  if (st.st_uid != ::geteuid())
    die(ex_tempfail, "%s of %s is owned by uid %u, not by the account (uid %u); mail waits until you fix it: chown %u %s",
        path.c_str(), account.c_str(), st.st_uid, ::geteuid(), ::geteuid(), path.c_str());
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    die(ex_tempfail, "%s of %s is group- or world-writable (mode %03o); mail waits until you fix it: chmod 600 %s",
        path.c_str(), account.c_str(), st.st_mode & 0777, path.c_str());
  if (!S_ISREG(st.st_mode)) die(ex_tempfail, "%s of %s is not a regular file", path.c_str(), account.c_str());
}

// Ends the process after a filter stopped (error, exit or delivered).
[[noreturn]] void finish_filter(const std::variant<FilterOutcome, FilterFailure>& r, Interpreter& in) {
  if (auto* f = std::get_if<FilterFailure>(&r))
    die(ex_tempfail, "filter error, mail deferred: %s", f->describe().c_str());
  if (std::get<FilterOutcome>(r) == FilterOutcome::exited) {
    int code = static_cast<int>(to_number(in.var("EXITCODE")));
    std::exit(code);
  }
  std::exit(0);
}

// Delivery to $DEFAULT when no filter took the message. Never an mbox that
// does not exist (COURIER-TRAPS 7): a missing default maildir defers.
[[noreturn]] void deliver_default(Interpreter& in, Message& msg, const std::string& initial_default) {
  std::string target = in.var("DEFAULT");
  if (target.empty()) die(ex_tempfail, "DEFAULT is empty, nowhere to deliver; check the maildir= field of the account");
  DeliveryContext ctx = in.delivery_context();
  std::string ext = in.var("EXT");
  if (target == initial_default && !ext.empty() && in.var("PLUSFOLDERS") != "0") {
    std::string folder = ext;
    if (lib::maildir::validate_folder_name(folder).ok()) {
      std::string dir = lib::maildir::folder_path(target, folder);
      if (is_dir(dir)) target = dir;
    }
  }
  lib::Result<std::string> r = lib::permanent_error("");
  switch (classify_target(target)) {
    case TargetKind::program:
    case TargetKind::forward:
      r = deliver_to(msg, target, ctx);
      break;
    case TargetKind::mbox: {
      struct stat st;
      if (::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode)) r = deliver_mbox(msg, target, ctx, false);
      else r = deliver_maildir(msg, target, ctx);  // names the missing maildir and maildirmake
      break;
    }
    case TargetKind::maildir:
      r = deliver_maildir(msg, target, ctx);
      break;
  }
  if (!r) die(exit_for(r.error()), "%s", r.error().message.c_str());
  if (in.var("VERBOSE") != "" && in.var("VERBOSE") != "0") lib::log::info("delivered to %s", r->c_str());
  std::exit(0);
}


// Carries out dot-courier instructions (COURIER-COMPAT.md section 9). Returns
// normally when all were done; exits on "delivered, stop" (99) and on errors.
void run_dot_courier(const std::vector<DotCourierLine>& lines, Message& msg, const DeliveryContext& ctx,
                     const std::string& source, int depth) {
  for (const auto& l : lines) {
    lib::Result<std::string> r = lib::permanent_error("");
    if (l.kind == DotCourierLine::Kind::mailbox) {
      r = deliver_to(msg, l.text, ctx);
    } else if (l.kind == DotCourierLine::Kind::forward) {
      r = deliver_forward(msg, l.addresses, ctx);
    } else {
      bool dynamic = l.kind == DotCourierLine::Kind::dynamic;
      if (dynamic && depth >= max_dynamic_depth)
        die(ex_tempfail, "%s:%d: '||' instructions nested more than %d levels", source.c_str(), l.line, max_dynamic_depth);
      lib::UniqueFd out;
      if (dynamic) {
        auto tmp = make_temp_file(msg.spool_dirs());
        if (!tmp) die(ex_tempfail, "%s", tmp.error().message.c_str());
        out = std::move(*tmp);
      }
      if (auto rw = msg.rewind(); !rw) die(ex_tempfail, "%s", rw.error().message.c_str());
      auto st = run_program(l.text, ctx, msg.fd(), dynamic ? out.get() : -1);
      if (!st) die(ex_tempfail, "%s:%d: %s", source.c_str(), l.line, st.error().message.c_str());
      bool stop = st->exited && st->code == 99;  // delivered: stop here
      if (!st->success() && !stop) {
        int code = st->exited && permanent_exit_code(st->code) ? st->code : ex_tempfail;
        die(code, "%s:%d: program \"%s\" failed: %s", source.c_str(), l.line, l.text.c_str(), st->describe().c_str());
      }
      if (dynamic) {
        std::string text(max_dynamic_bytes + 1, '\0');
        ssize_t n = ::pread(out.get(), text.data(), text.size(), 0);
        if (n < 0) die(ex_tempfail, "%s:%d: reading the output of \"%s\": %s", source.c_str(), l.line, l.text.c_str(),
                       lib::errno_text(errno).c_str());
        if (static_cast<std::size_t>(n) > max_dynamic_bytes)
          die(ex_tempfail, "%s:%d: \"%s\" printed more than %zu bytes of instructions", source.c_str(), l.line,
              l.text.c_str(), max_dynamic_bytes);
        text.resize(static_cast<std::size_t>(n));
        std::string from = source + ":" + std::to_string(l.line) + " (output of \"" + l.text + "\")";
        auto parsed = parse_dot_courier(text);
        if (auto* e = std::get_if<DotCourierParseError>(&parsed))
          die(ex_tempfail, "%s line %d: %s", from.c_str(), e->line, e->message.c_str());
        run_dot_courier(std::get<std::vector<DotCourierLine>>(parsed), msg, ctx, from, depth + 1);
      }
      if (stop) std::exit(0);
      continue;
    }
    if (!r) die(exit_for(r.error()), "%s:%d: %s", source.c_str(), l.line, r.error().message.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  lib::log::Options lo;
  lo.target = lib::log::Target::stderr;
  lib::log::open("maildrop", lo);
  Options o = parse_args(argc, argv);
  if (!o.delivery_mode && o.filter_file.empty() && !o.check_only)
    die(ex_usage, "no account given: use maildrop -d USER (or name a filter file); see maildrop --help");

  auto original_env = environment_map();
  std::string account_name = o.user;
  std::string home, default_box, quota;
  std::string ext = getenv_str("EXT");

  if (o.delivery_mode) {
    authlib::ClientOptions co;
    auto r = authlib::lookup_account(co, "courier", o.user);
    // user+folder: the account is "user", the extension names a folder.
    if (r.status == authlib::AuthStatus::rejected && o.user.find('+') != std::string::npos) {
      std::string base = o.user.substr(0, o.user.find('+'));
      std::string at = o.user.find('@') != std::string::npos ? o.user.substr(o.user.find('@')) : "";
      std::string plus = o.user.substr(o.user.find('+') + 1);
      if (!at.empty()) plus = plus.substr(0, plus.find('@'));
      auto r2 = authlib::lookup_account(co, "courier", base + at);
      if (r2.status != authlib::AuthStatus::rejected) {
        r = std::move(r2);
        if (ext.empty()) ext = plus;
      }
    }
    if (r.status == authlib::AuthStatus::rejected)
      die(ex_nouser, "account %s not found by authdaemond: %s", o.user.c_str(), r.error.c_str());
    if (r.status == authlib::AuthStatus::temporary)
      die(ex_tempfail, "cannot look up account %s: %s; is authdaemond running? (start it: authdaemond start)",
          o.user.c_str(), r.error.c_str());
    authlib::Account acct = r.account;
    if (acct.uid && *acct.uid == 0)
      die(ex_noperm, "account %s maps to uid 0 (root); mail is never delivered as root: give it another uid in userdb",
          o.user.c_str());
    if (!o.uid_gid.empty() && acct.uid) {
      std::string want = std::to_string(*acct.uid) + "/" + std::to_string(acct.gid);
      if (o.uid_gid != want)
        die(ex_tempfail, "-D %s does not match account %s (uid/gid %s)", o.uid_gid.c_str(), o.user.c_str(), want.c_str());
    }
    home = acct.home;
    default_box = acct.maildir;
    quota = acct.quota;
    // Switch to the account first; the home is entered below, so that a
    // missing home is a deferral with its own explanation (seed 002).
    authlib::Account switch_only = acct;
    switch_only.home = "/";
    if (auto b = authlib::become_account(switch_only, o.user); !b)
      die(ex_tempfail, "cannot switch to account %s: %s", o.user.c_str(), b.error().message.c_str());
    if (::geteuid() == 0) die(ex_noperm, "still root after switching to %s; refusing to deliver", o.user.c_str());
    if (home.empty()) die(ex_tempfail, "account %s has no home directory; set home= in userdb", o.user.c_str());
    if (::chdir(home.c_str()) != 0) {
      int err = errno;
      die(ex_tempfail,
          "cannot enter home directory %s of account %s (uid %u): %s; %s", home.c_str(), o.user.c_str(), ::geteuid(),
          lib::errno_text(err).c_str(),
          err == ENOENT ? ("create it: mkdir -p " + home + " && chown " + std::to_string(::geteuid()) + ":" +
                           std::to_string(::getegid()) + " " + home + " && maildirmake " + home +
                           "/Maildir (run maildirmake as the account), or check the home= field in userdb")
                              .c_str()
                        : ("give uid " + std::to_string(::geteuid()) + " access to it, or check the home= field in userdb").c_str());
    }
    struct stat hs;
    if (::stat(".", &hs) == 0 && (hs.st_mode & (S_IWOTH | S_ISVTX)))
      die(ex_tempfail, "home directory %s of account %s is world-writable or sticky (mode %04o); fix it: chmod 755 %s",
          home.c_str(), o.user.c_str(), hs.st_mode & 07777, home.c_str());
  } else {
    // Filters run programs and write files: never as root (DESIGN.md, Privileges).
    if (::geteuid() == 0 && !o.check_only)
      die(ex_noperm, "refusing to run a filter file as root; deliver with maildrop -d USER, or run it as the user");
    home = getenv_str("HOME");
    if (home.empty()) {
      struct passwd* pw = ::getpwuid(::getuid());
      if (pw) home = pw->pw_dir;
    }
    account_name = getenv_str("LOGNAME");
  }
  if (default_box.empty() && !o.delivery_mode) default_box = getenv_str("DEFAULT");
  if (default_box.empty() && o.delivery_mode) {
    std::string env_default = getenv_str("DEFAULT");
    if (!env_default.empty() && env_default[0] != '|' && env_default[0] != '!') default_box = env_default;
  }
  if (default_box.empty()) default_box = home + "/Maildir";

  // Read the message, now as the account.
  std::string sender = o.sender_given ? o.sender : getenv_str("SENDER");
  std::vector<std::string> headers = o.headers;
  bool has_dt = false;
  for (const auto& h : headers) has_dt = has_dt || strncasecmp(h.c_str(), "Delivered-To:", 13) == 0;
  std::string recipient = getenv_str("RECIPIENT");
  if (!has_dt && !recipient.empty() && o.delivery_mode) headers.insert(headers.begin(), "Delivered-To: " + recipient);
  std::string rp = (o.sender_given || !getenv_str("SENDER").empty() || original_env.count("SENDER"))
                       ? "Return-Path: <" + sender + ">"
                       : "";
  // courierd (as Courier's courierdeliver) passes -A "Return-Path: <...>" as well as
  // -f: that line is the Return-Path, first in the message, never a second one.
  for (auto it = headers.begin(); it != headers.end();) {
    if (strncasecmp(it->c_str(), "Return-Path:", 12) == 0) {
      rp = *it;
      it = headers.erase(it);
    } else {
      ++it;
    }
  }
  std::string tmpdir = getenv_str("TMPDIR");
  std::vector<std::string> spool_dirs;
  if (is_dir(default_box + "/tmp")) spool_dirs.push_back(default_box + "/tmp");
  if (!home.empty()) spool_dirs.push_back(home);
  spool_dirs.push_back(tmpdir.empty() ? "/tmp" : tmpdir);
  auto spooled = Message::spool(0, rp, headers, spool_dirs, !rp.empty());
  if (!spooled) die(ex_tempfail, "%s", spooled.error().message.c_str());
  Message msg = std::move(*spooled);

  DeliveryContext base;
  base.sender = sender;
  base.sendmail = BINDIR "/sendmail";
  base.warn_percent = o.warn_percent;
  base.warn_message_file = o.warn_file;
  Interpreter in(msg, base);
  in.set_import_environment(original_env);
  auto& v = in.vars();
  v["HOME"] = home;
  v["LOGNAME"] = account_name;
  v["SHELL"] = "/bin/sh";
  v["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  v["DEFAULT"] = default_box;
  v["SENDER"] = sender;
  v["FROM"] = sender;
  v["SENDMAIL"] = BINDIR "/sendmail";
  v["VERBOSE"] = std::to_string(o.verbose);
  v["LOCKEXT"] = ".lock";
  v["LOCKTIMEOUT"] = "60";
  v["PROGRAMTIMEOUT"] = "300";
  v["PLUSFOLDERS"] = "1";
  if (!quota.empty()) v["MAILDIRQUOTA"] = quota;
  for (const char* name : {"RECIPIENT", "HOST", "LOCAL", "TZ"})
    if (auto it = original_env.find(name); it != original_env.end()) v[name] = it->second;
  v["EXT"] = ext;
  // dot-courier's variables (COURIER-COMPAT.md section 9): EXT2..EXT4 drop one
  // more '-' component of the extension each; the lines courierlocal adds.
  v["USER"] = account_name;
  {
    std::string rest = ext;
    for (int i = 2; i <= 4; ++i) {
      auto dash = rest.find('-');
      rest = dash == std::string::npos ? std::string() : rest.substr(dash + 1);
      v["EXT" + std::to_string(i)] = rest;
    }
  }
  v["RPLINE"] = "Return-Path: <" + sender + ">\n";
  v["DTLINE"] = "Delivered-To: " + (recipient.empty() ? account_name : recipient) + "\n";
  {
    std::time_t now = std::time(nullptr);
    char date[64];
    struct tm tmv;
    ::gmtime_r(&now, &tmv);
    ::strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tmv);
    v["UFLINE"] = "From " + (sender.empty() ? std::string("MAILER-DAEMON") : sender) + " " + date + "\n";
  }
  for (std::size_t i = 0; i < o.args.size(); ++i) v[std::to_string(i + 1)] = o.args[i];

  if (o.check_only) {
    std::string path = !o.embedded_filter.empty() ? home + "/.mailfilters/" + o.embedded_filter
                       : !o.filter_file.empty()   ? o.filter_file
                                                  : home + "/.mailfilter";
    auto text = lib::read_small_file(path, max_filter_bytes);
    if (!text) die(ex_tempfail, "%s", text.error().message.c_str());
    auto parsed = parse_filter(*text, path);
    if (auto* e = std::get_if<SyntaxError>(&parsed))
      die(ex_tempfail, "%s:%d: syntax error: %s", path.c_str(), e->line, e->message.c_str());
    std::printf("%s: syntax OK\n", path.c_str());
    return 0;
  }

  if (!o.filter_file.empty() && !o.delivery_mode) {
    struct stat st;
    if (::stat(o.filter_file.c_str(), &st) != 0)
      die(ex_tempfail, "filter file %s: %s", o.filter_file.c_str(), lib::errno_text(errno).c_str());
    check_filter_file(o.filter_file, st, account_name);
    auto r = in.run_file(o.filter_file);
    if (std::holds_alternative<FilterOutcome>(r) && std::get<FilterOutcome>(r) == FilterOutcome::fell_through)
      deliver_default(in, msg, default_box);
    finish_filter(r, in);
  }

  // dot-courier: $HOME/.courier (no extension) or .courier-EXT / -default.
  for (const auto& name : dot_courier_candidates(ext)) {
    int open_err = 0;
    auto text = lib::read_small_file(name, 64 * 1024, &open_err);
    if (!text) {
      if (open_err == ENOENT) continue;
      die(ex_tempfail, "%s/%s of %s cannot be read: %s", home.c_str(), name.c_str(), o.user.c_str(),
          text.error().message.c_str());
    }
    auto parsed = parse_dot_courier(*text);
    if (auto* e = std::get_if<DotCourierParseError>(&parsed))
      die(ex_tempfail, "%s/%s:%d: %s", home.c_str(), name.c_str(), e->line, e->message.c_str());
    auto& lines = std::get<std::vector<DotCourierLine>>(parsed);
    bool blank = text->find_first_not_of(" \t\r\n") == std::string::npos;
    if (blank) break;  // an empty file means the default delivery
    if (lines.empty()) {
      lib::log::info("%s/%s has no delivery instructions: message discarded", home.c_str(), name.c_str());
      return 0;
    }
    run_dot_courier(lines, msg, in.delivery_context(), home + "/" + name, 0);
    return 0;
  }

  // maildroprc, then ~/.mailfilter.
  std::string rc = SYSCONFDIR "/maildroprc";
  struct stat st;
  if (::stat(rc.c_str(), &st) == 0) {
    if (st.st_mode & S_IWOTH) die(ex_tempfail, "%s is world-writable; fix it: chmod 644 %s", rc.c_str(), rc.c_str());
    if (::access(rc.c_str(), R_OK) != 0)
      die(ex_tempfail, "%s cannot be read by uid %u: %s; fix it: chmod 644 %s", rc.c_str(), ::geteuid(),
          lib::errno_text(errno).c_str(), rc.c_str());
    auto r = in.run_file(rc);
    if (!std::holds_alternative<FilterOutcome>(r) || std::get<FilterOutcome>(r) != FilterOutcome::fell_through)
      finish_filter(r, in);
  } else if (errno != ENOENT) {
    die(ex_tempfail, "%s: %s", rc.c_str(), lib::errno_text(errno).c_str());
  }
  if (::lstat(".mailfilter", &st) == 0) {
    check_filter_file(home + "/.mailfilter", st, o.user);
    auto r = in.run_file(home + "/.mailfilter");
    if (!std::holds_alternative<FilterOutcome>(r) || std::get<FilterOutcome>(r) != FilterOutcome::fell_through)
      finish_filter(r, in);
  } else if (errno != ENOENT) {
    die(ex_tempfail, "%s/.mailfilter: %s", home.c_str(), lib::errno_text(errno).c_str());
  }
  deliver_default(in, msg, default_box);
}
