// imapd/cmd_append.cpp: APPEND (RFC 3501 6.3.11) with flags, keywords and
// internal date, answering APPENDUID (RFC 4315), and MULTIAPPEND (RFC 3502:
// several messages in one command, all appended or none) and literal8
// messages (RFC 3516 BINARY: binary parts stored as base64). The message is stored with
// LF line ends, as Courier does, through lib::maildir's tmp/ + rename.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <set>
#include <string>

#include "imapd/binary_append.hpp"
#include "imapd/catenate.hpp"
#include "imapd/fetch.hpp"
#include "imapd/keywords.hpp"
#include "imapd/replies.hpp"
#include "imapd/sequence_set.hpp"
#include "imapd/session.hpp"
#include "imapd/shared_fs.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"
#include "lib/maildir_quota.hpp"

namespace imapd {

namespace {

// One message of APPEND (several with MULTIAPPEND, RFC 3502).
struct AppendMessage {
  std::string letters;              // Maildir flag letters
  std::set<std::string> keywords;
  std::optional<std::time_t> date;  // INTERNALDATE
  std::string_view raw;             // the literal; empty when spooled
  bool spooled = false;
  bool binary = false;              // sent as literal8 (RFC 3516 "~{n}")
  // CATENATE (RFC 4469): the parts, joined into `joined` once the target
  // mailbox is known to exist; raw then points there.
  std::optional<std::vector<CatenatePart>> catenate;
  std::string joined;
};

constexpr std::string_view append_syntax = "Syntax: APPEND mailbox 1*([(flags)] [date-time] literal).";

}  // namespace

Completion Session::cmd_append(const ParsedCommand& c) {
  if (c.args.size() < 2) return {"BAD", std::string(append_syntax)};
  std::string why;
  auto name = mailbox_arg(c.args[0], why);
  if (!name) return {"NO", why};
  // Parse every message first: a syntax error appends nothing.
  std::vector<AppendMessage> messages;
  bool spool_taken = false;
  for (std::size_t i = 1; i < c.args.size();) {
    AppendMessage msg;
    if (c.args[i].is_list()) {
      for (const auto& f : c.args[i].items) {
        if (!f.is_atom_like()) return {"BAD", std::string(reply::invalid_flag)};
        std::string_view fl = f.str();
        if (char l = maildir_letter(fl)) {
          msg.letters += l;
        } else if (!fl.empty() && fl[0] == '\\') {
          if (fl.size() == 7 && (fl == "\\Recent" || fl == "\\RECENT" || fl == "\\recent")) continue;
          return {"BAD", std::string(reply::invalid_system_flag)};
        } else if (valid_keyword(fl)) {
          msg.keywords.emplace(fl);
        } else {
          return {"BAD", std::string(reply::invalid_keyword)};
        }
      }
      ++i;
    }
    if (i + 1 < c.args.size() && c.args[i].kind == Value::Kind::quoted &&
        (c.args[i + 1].is_string() || c.args[i + 1].is_word("CATENATE"))) {
      auto d = parse_internal_date(c.args[i].str());
      if (!d) return {"BAD", "Invalid date-time."};
      msg.date = d->time;
      ++i;
    }
    if (i + 1 < c.args.size() && c.args[i].is_word("CATENATE") && c.args[i + 1].is_list()) {
      std::string error;
      msg.catenate = parse_catenate(c.args[i + 1], error);
      if (!msg.catenate) return {"BAD", error};
      i += 2;
      messages.push_back(std::move(msg));
      continue;
    }
    // RFC 6855 4: "UTF8 (" literal8 ")", a message with UTF-8 headers,
    // once the client has enabled UTF8=ACCEPT.
    if (i + 1 < c.args.size() && c.args[i].is_word("UTF8") && c.args[i + 1].is_list()) {
      if (!utf8_enabled_) return {"BAD", "APPEND UTF8 needs ENABLE UTF8=ACCEPT first (RFC 6855 4)."};
      const auto& l = c.args[i + 1].items;
      if (l.size() != 1 || l[0].kind != Value::Kind::literal) return {"BAD", "Syntax: APPEND mailbox UTF8 (literal8)."};
      msg.raw = l[0].str();
      msg.binary = l[0].binary;
      i += 2;
      if (msg.raw.empty()) return {"NO", "Empty message."};
      messages.push_back(std::move(msg));
      continue;
    }
    if (i >= c.args.size() || !c.args[i].is_string())
      return {"BAD", std::string(append_syntax)};
    msg.raw = c.args[i].str();
    msg.binary = c.args[i].binary;
    ++i;
    // A large message was spooled to tmp/ by read_command (already LF); its
    // literal reads as empty. Only one per command is spooled.
    if (msg.raw.empty()) {
      if (spool_taken || !spool_.fd.valid() || spool_.bytes == 0) return {"NO", "Empty message."};
      msg.spooled = spool_taken = true;
    }
    messages.push_back(std::move(msg));
  }
  std::string dir = folder_dir(*name);
  if (!name->dir.empty()) {  // shared.*: into the sharable folder itself
    auto d = shared_fs::append_dir(root_, *name, why);
    if (!d) return {"NO", why};
    dir = *d;
  }
  struct stat st {};
  if (::stat((dir + "/cur").c_str(), &st) != 0) return {"NO", std::string(reply::trycreate)};
  if (auto no = refuse_unless(*name, "i")) return *no;  // RFC 4314 4
  // CATENATE: each part's bytes, URL parts from this account's messages.
  for (auto& msg : messages) {
    if (!msg.catenate) continue;
    for (const auto& part : *msg.catenate) {
      if (!part.url) {
        if (part.data.empty() && !spool_taken && spool_.fd.valid() && spool_.bytes > 0) {
          // A large TEXT literal was spooled (LF line ends, fine: the
          // message is stored with LF below).
          spool_taken = true;
          std::string spooled(spool_.bytes, '\0');
          if (::pread(spool_.fd.get(), spooled.data(), spooled.size(), 0) != static_cast<ssize_t>(spooled.size())) {
            lib::log::error("user=%s: APPEND: cannot read the spooled CATENATE text: %s", login_.c_str(),
                            lib::errno_text(errno).c_str());
            return {"NO", "Cannot store the message now, see the log."};
          }
          msg.joined += spooled;
          continue;
        }
        if (part.data.find('\0') != std::string_view::npos) return {"NO", "CATENATE TEXT contains NUL."};
        msg.joined += part.data;
        continue;
      }
      std::string bad;
      auto data = url_data(part.data, false, bad);
      if (!data) {
        std::string url;
        append_astring(url, part.data);
        return {"NO", "[BADURL " + url + "] " + bad + "."};
      }
      msg.joined += *data;
    }
    if (msg.joined.size() > settings_.max_message_bytes) return {"NO", "[TOOBIG] Message too large."};
    if (msg.joined.empty()) return {"NO", "Empty message."};
    msg.raw = msg.joined;
  }
  // Deliver one by one; on any failure the ones already delivered are taken
  // back (file and maildirsize), so the command appends all or nothing.
  std::vector<lib::maildir::Delivered> done;
  auto roll_back = [&] {
    for (const auto& d : done) {
      if (::unlink(d.path.c_str()) != 0) {
        lib::log::error("user=%s: APPEND: cannot take back %s after a failed MULTIAPPEND: %s", login_.c_str(),
                        d.path.c_str(), lib::errno_text(errno).c_str());
        continue;
      }
      if (lib::maildir::folder_counts_toward_quota(dir) && lib::maildir::counts_toward_quota(d.file_name))
        (void)lib::maildir::update_quota(lib::maildir::quota_root(dir), -static_cast<std::int64_t>(d.size_bytes), -1);
    }
  };
  for (const auto& msg : messages) {
    // CRLF -> LF, as stored by Courier and delivered by maildrop.
    // Binary parts of a literal8 become base64 first (binary_append.hpp).
    std::string text;
    if (!msg.spooled) {
      std::string encoded = msg.binary ? encode_binary_parts(msg.raw) : std::string();
      std::string_view raw = msg.binary ? std::string_view(encoded) : msg.raw;
      text.reserve(raw.size());
      for (std::size_t k = 0; k < raw.size(); ++k) {
        if (raw[k] == '\r' && k + 1 < raw.size() && raw[k + 1] == '\n') continue;
        text += raw[k];
      }
    } else if (::lseek(spool_.fd.get(), 0, SEEK_SET) != 0) {
      lib::log::error("user=%s: APPEND: cannot rewind the spooled message: %s", login_.c_str(),
                      lib::errno_text(errno).c_str());
      roll_back();
      return {"NO", "Cannot store the message now, see the log."};
    }
    lib::maildir::QuotaDeliveryOptions opts;
    opts.location = lib::maildir::Location::cur_dir;
    opts.flags = msg.letters;
    opts.mtime = msg.date;
    // Written to tmp/, checked against the account's maildirsize, then
    // published and counted (Courier's deliverquota rules).
    auto q = msg.spooled ? lib::maildir::deliver_with_quota_from_fd(dir, spool_.fd.get(), opts)
                         : lib::maildir::deliver_with_quota(dir, text, opts);
    if (!q) {
      lib::log::error("user=%s: APPEND to %s: %s", login_.c_str(), dir.c_str(), q.error().message.c_str());
      roll_back();
      return {"NO", "Cannot store the message now, see the log."};
    }
    if (q->status == lib::maildir::QuotaStatus::over_quota) {
      lib::log::info("user=%s: APPEND to %s refused: over quota (%s)", login_.c_str(), dir.c_str(),
                     q->check.quota.to_string().c_str());
      roll_back();
      return {"NO", "[OVERQUOTA] Mailbox is over quota: delete or expunge messages first."};
    }
    if (!q->warning.empty()) lib::log::warning("user=%s: APPEND: %s", login_.c_str(), q->warning.c_str());
    done.push_back(q->delivered);
  }
  spool_.fd.reset();
  // The UIDs of a shared folder are the account's copy's, given at its next
  // sync: no APPENDUID (RFC 4315 allows leaving it out).
  if (!name->dir.empty()) {
    std::vector<std::string> paths;
    for (const auto& d : done) paths.push_back(d.path);
    shared_fs::after_append(root_, *name, dir, paths, login_);
    return {"OK", reply::completed("APPEND")};
  }
  std::vector<std::string> bases;
  for (std::size_t k = 0; k < done.size(); ++k) {
    bases.push_back(done[k].base);
    if (messages[k].keywords.empty()) continue;
    auto w = update_keywords(dir, {{done[k].base, KeywordChange::Op::set, messages[k].keywords}});
    if (!w) lib::log::error("user=%s: APPEND keywords: %s", login_.c_str(), w.error().message.c_str());
  }
  auto a = assign_uids(dir, bases, nullptr);
  if (!a || std::find(a->uids.begin(), a->uids.end(), 0u) != a->uids.end()) {
    if (!a) lib::log::error("user=%s: APPEND: %s", login_.c_str(), a.error().message.c_str());
    return {"OK", reply::completed("APPEND")};
  }
  return {"OK", "[APPENDUID " + std::to_string(a->uidvalidity) + " " + format_numbers(a->uids) + "] APPEND completed."};
}

}  // namespace imapd
