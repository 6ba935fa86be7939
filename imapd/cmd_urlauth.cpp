// imapd/cmd_urlauth.cpp: URLAUTH (RFC 4467): GENURLAUTH, RESETKEY and
// URLFETCH, and Session::url_data, which CATENATE (RFC 4469) uses too: the
// bytes an IMAP URL (imapd/imap_url.hpp) refers to in this account.
//
// Scope: "user+<id>" access is checked against the login; "authuser" and
// "anonymous" URLs are served to any logged-in session, also of another
// account of this server when that account shares this process's uid
// (virtual mailboxes; looked up through authdaemond); "submit+<id>" (for a
// submission server) is never served, as no submission server talks IMAP
// to us. Keys: imapd/urlauth.hpp.
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include "authlib/client.hpp"
#include "imapd/binary_part.hpp"
#include "imapd/fetch.hpp"
#include "imapd/imap_string.hpp"
#include "imapd/imap_url.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "imapd/urlauth.hpp"
#include "lib/ascii.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"
#include "lib/maildir.hpp"

namespace imapd {
namespace {

// The section of an IMAP URL ("1.2", "HEADER.FIELDS (From)") through the
// FETCH parser, so URLs accept exactly what BODY[...] accepts.
std::optional<SectionSpec> url_section(const std::string& section) {
  const std::string command = "x FETCH 1 BODY.PEEK[" + section + "]";
  ParsedCommand c = parse_command(command);
  if (!c.ok() || c.args.size() != 2 || c.args[1].kind != Value::Kind::section || c.args[1].partial) return std::nullopt;
  std::string error;
  auto req = parse_fetch_attributes(c.args[1], false, error);
  if (!req || req->items.size() != 1 || req->items[0].attr != FetchAttr::body_section) return std::nullopt;
  return req->items[0].section;
}

bool is_internal(std::string_view mechanism) { return lib::ascii::iequals(mechanism, "INTERNAL"); }

// A URL's PARTIAL applied to data.
void apply_partial(const ImapUrl& url, std::string& data) {
  if (!url.partial) return;
  if (url.partial->origin >= data.size()) {
    data.clear();
    return;
  }
  data = data.substr(url.partial->origin, url.partial->count ? *url.partial->count : std::string::npos);
}

// The part a URL's SECTION names for BINARY and BODYPARTSTRUCTURE (part
// numbers only, RFC 5524 3), or nullptr.
const lib::mime::Part* url_part(MessageText& text, const ImapUrl& url) {
  for (char ch : url.section)
    if (ch != '.' && (ch < '0' || ch > '9')) return nullptr;
  return lib::mime::find_section(text.mime().root, url.section);
}

// The Maildir of another account of this server that an authorized URL
// names (imap://user@host/...), looked up through authdaemond (PRE). Only an
// account with this process's uid can be read (virtual mailboxes sharing one
// mail uid); nullopt with the reason otherwise.
std::optional<std::string> other_account_maildir(const ImapUrl& url, const Settings& settings, std::string& why) {
  authlib::ClientOptions opts;
  std::vector<std::string> names;
  if (url.user.find('@') == std::string::npos) names.push_back(url.user + "@" + url.host);
  names.push_back(url.user);
  for (const auto& n : names) {
    auto r = authlib::lookup_account(opts, settings.service, n);
    if (r.status == authlib::AuthStatus::temporary) {
      lib::log::error("URLFETCH: looking up the URL's account %s: %s", n.c_str(), r.error.c_str());
      why = "cannot look the URL's account up now, see the log";
      return std::nullopt;
    }
    if (r.status != authlib::AuthStatus::ok) continue;
    if (!r.account.uid || *r.account.uid != ::getuid()) {
      why = "the URL's account " + n + " has another uid: its mail cannot be read from this session";
      return std::nullopt;
    }
    std::string maildir = r.account.maildir.empty() ? settings.maildir_path : r.account.maildir;
    if (maildir.empty() || maildir[0] != '/') maildir = r.account.home + "/" + maildir;
    return maildir;
  }
  why = "the URL's account does not exist";
  return std::nullopt;
}

// What URLFETCH's extended form asks for (RFC 5524 3).
struct FetchItems {
  bool body = false, binary = false, structure = false;
};

}  // namespace

std::optional<std::string> Session::url_message(std::string_view url_text, bool urlfetch, ImapUrl& parsed,
                                                std::string& why) {
  auto url = parse_imap_url(url_text, why);
  if (!url) return std::nullopt;
  // Whose mail: this account's, or, for an authorized URL (URLAUTH with a
  // token) of another account, that account's.
  std::string owner_root = root_;
  if (url->absolute && !url_names_account(*url, login_)) {
    if (!url->has_urlauth || url->mechanism.empty()) {
      why = "a URL of another account needs URLAUTH";
      return std::nullopt;
    }
    auto other = other_account_maildir(*url, settings_, why);
    if (!other) return std::nullopt;
    owner_root = *other;
  }
  if (urlfetch && (!url->absolute || !url->has_urlauth || url->mechanism.empty())) {
    why = "URLFETCH needs an authorized URL (imap://...;URLAUTH=access:INTERNAL:token)";
    return std::nullopt;
  }
  if (url->has_urlauth) {
    if (url->mechanism.empty() || !is_internal(url->mechanism)) {
      why = "URLAUTH URL without an INTERNAL token";
      return std::nullopt;
    }
    const std::string user = access_user(url->access);
    if (lib::ascii::istarts_with(url->access, "submit+")) {
      why = "submit+ URLs are for a submission server";
      return std::nullopt;
    }
    if (!user.empty()) {
      ImapUrl who;
      who.user = user;
      who.host = url->host;
      if (!url_names_account(who, login_)) {
        why = "the URL is for another user";
        return std::nullopt;
      }
    }
    if (url->expire && *url->expire <= std::time(nullptr)) {
      why = "the URL has expired";
      return std::nullopt;
    }
  }
  auto name = resolve_mailbox(url->mailbox, why);
  if (!name) return std::nullopt;
  if (url->has_urlauth) {
    auto key = urlauth_key(owner_root, name->imap_name, false);
    if (!key) {
      lib::log::error("user=%s: URLAUTH: %s", login_.c_str(), key.error().message.c_str());
      why = "cannot read the URLAUTH keys, see the log";
      return std::nullopt;
    }
    if (!*key || !urlauth_token_matches(**key, url->rump, url->token)) {
      why = "URLAUTH token does not match (RESETKEY, or not made here)";
      return std::nullopt;
    }
  }
  auto mb = Mailbox::open(lib::maildir::folder_path(owner_root, name->folder), *name, true);
  if (!mb) {
    if (mb.error().kind != lib::ErrorKind::permanent)
      lib::log::error("user=%s: URL: %s", login_.c_str(), mb.error().message.c_str());
    why = "no such mailbox";
    return std::nullopt;
  }
  if (url->uidvalidity && *url->uidvalidity != (*mb)->uidvalidity()) {
    why = "UIDVALIDITY does not match";
    return std::nullopt;
  }
  std::uint32_t seq = (*mb)->seq_of_uid(url->uid);
  if (seq == 0) {
    why = "no such message";
    return std::nullopt;
  }
  auto fd = (*mb)->open_message(seq - 1);
  if (!fd || !*fd) {
    if (!fd) lib::log::error("user=%s: URL: %s", login_.c_str(), fd.error().message.c_str());
    why = "no such message";
    return std::nullopt;
  }
  auto file = lib::read_small_file((*mb)->path_of((*mb)->messages()[seq - 1]), settings_.max_message_bytes);
  if (!file) {
    lib::log::error("user=%s: URL: %s", login_.c_str(), file.error().message.c_str());
    why = "cannot read the message, see the log";
    return std::nullopt;
  }
  parsed = std::move(*url);
  return std::move(*file);
}

std::optional<std::string> Session::url_data(std::string_view url_text, bool urlfetch, std::string& why) {
  ImapUrl parsed;
  auto file = url_message(url_text, urlfetch, parsed, why);
  if (!file) return std::nullopt;
  const ImapUrl* url = &parsed;
  MessageText text(*file);
  std::string data;
  if (url->section.empty()) {
    data = std::string(text.text());
  } else {
    auto spec = url_section(url->section);
    if (!spec) {
      why = "invalid SECTION";
      return std::nullopt;
    }
    auto bytes = section_bytes(text, *spec);
    if (!bytes) {
      why = "no such section";
      return std::nullopt;
    }
    data = std::move(*bytes);
  }
  apply_partial(*url, data);
  return data;
}

Completion Session::cmd_genurlauth(const ParsedCommand& c) {
  if (c.args.empty() || c.args.size() % 2 != 0) return {"BAD", "Syntax: GENURLAUTH url mechanism ..."};
  std::string out = "* GENURLAUTH";
  for (std::size_t i = 0; i < c.args.size(); i += 2) {
    if (!c.args[i].is_astring() || !c.args[i + 1].is_atom_like())
      return {"BAD", "Syntax: GENURLAUTH url mechanism ..."};
    if (!is_internal(c.args[i + 1].str())) return {"NO", "Only the INTERNAL mechanism is supported."};
    std::string why;
    std::string_view text = c.args[i].str();
    auto url = parse_imap_url(text, why);
    if (url && (!url->absolute || !url->has_urlauth || !url->mechanism.empty()))
      why = "GENURLAUTH needs imap://user@host/...;URLAUTH=access without a token";
    else if (url && !url_names_account(*url, login_))
      why = "the URL names another account";
    std::optional<FolderName> name;
    if (url && why.empty()) {
      name = resolve_mailbox(url->mailbox, why);
      struct stat st {};
      if (name && ::stat((folder_dir(*name) + "/cur").c_str(), &st) != 0) why = "no such mailbox";
    }
    if (!url || !why.empty()) {
      std::string code;
      append_astring(code, text);
      return {"NO", "[BADURL " + code + "] " + why + "."};
    }
    auto key = urlauth_key(root_, name->imap_name, true);
    if (!key) {
      lib::log::error("user=%s: GENURLAUTH: %s", login_.c_str(), key.error().message.c_str());
      return {"NO", std::string(reply::server_error)};
    }
    std::string token = urlauth_token(**key, url->rump);
    if (token.empty()) {
      lib::log::error("user=%s: GENURLAUTH: OpenSSL refused HMAC-SHA256", login_.c_str());
      return {"NO", std::string(reply::server_error)};
    }
    out += ' ';
    append_astring(out, url->rump + ":INTERNAL:" + token);
  }
  emit(out + "\r\n");
  return {"OK", reply::completed("GENURLAUTH")};
}

Completion Session::cmd_resetkey(const ParsedCommand& c) {
  std::optional<std::string> mailbox;
  if (!c.args.empty()) {
    std::string why;
    auto name = mailbox_arg(c.args[0], why);
    if (!name) return {"NO", why};
    for (std::size_t i = 1; i < c.args.size(); ++i) {
      if (!c.args[i].is_atom_like()) return {"BAD", "Syntax: RESETKEY [mailbox [mechanism ...]]"};
      if (!is_internal(c.args[i].str())) return {"NO", "Only the INTERNAL mechanism is supported."};
    }
    struct stat st {};
    if (::stat((folder_dir(*name) + "/cur").c_str(), &st) != 0) return {"NO", "[NONEXISTENT] No such mailbox."};
    mailbox = name->imap_name;
  }
  auto r = reset_urlauth_keys(root_, mailbox);
  if (!r) {
    lib::log::error("user=%s: RESETKEY: %s", login_.c_str(), r.error().message.c_str());
    return {"NO", std::string(reply::server_error)};
  }
  return {"OK", reply::completed("RESETKEY")};
}

Completion Session::cmd_urlfetch(const ParsedCommand& c) {
  constexpr std::string_view syntax = "Syntax: URLFETCH url ... or URLFETCH (url [BODY] [BINARY] [BODYPARTSTRUCTURE]) ...";
  if (c.args.empty()) return {"BAD", std::string(syntax)};
  // Checked whole before anything is fetched.
  std::vector<std::pair<std::string_view, std::optional<FetchItems>>> requests;
  for (const auto& a : c.args) {
    if (a.is_list()) {
      if (a.items.size() < 2 || !a.items[0].is_astring() || a.items[0].kind == Value::Kind::section)
        return {"BAD", std::string(syntax)};
      FetchItems items;
      for (std::size_t i = 1; i < a.items.size(); ++i) {
        const Value& w = a.items[i];
        if (w.is_word("BODY"))
          items.body = true;
        else if (w.is_word("BINARY"))
          items.binary = true;
        else if (w.is_word("BODYPARTSTRUCTURE"))
          items.structure = true;
        else
          return {"BAD", std::string(syntax)};
      }
      requests.emplace_back(a.items[0].str(), items);
    } else if (a.is_astring() && a.kind != Value::Kind::section) {
      requests.emplace_back(a.str(), std::nullopt);
    } else {
      return {"BAD", std::string(syntax)};
    }
  }
  std::string out = "* URLFETCH";
  for (const auto& [url_text, items] : requests) {
    out += ' ';
    append_astring(out, url_text);
    out += ' ';
    std::string why;
    std::optional<std::string> data;
    std::string extended;
    if (!items) {
      data = url_data(url_text, true, why);
    } else {
      ImapUrl url;
      auto file = url_message(url_text, true, url, why);
      if (file) {
        MessageText text(*file);
        const lib::mime::Part* part = items->binary || items->structure ? url_part(text, url) : nullptr;
        std::string joined = "(";
        bool ok = !(items->binary || items->structure) || part;
        if (!ok) why = "BINARY and BODYPARTSTRUCTURE need a section of part numbers that exists";
        auto item = [&](std::string_view name) {
          if (joined.size() > 1) joined += ' ';
          joined += name;
          joined += ' ';
        };
        if (ok && items->structure) {
          // With BINARY, the structure of the decoded data BINARY returns
          // (sizes and lines of the decoded bytes, encoding names kept).
          std::optional<lib::mime::Part> decoded;
          if (items->binary) {
            decoded = binary_structure(text.text(), *part);
            ok = decoded.has_value();
            if (!ok) why = "unknown Content-Transfer-Encoding";
          }
          if (ok) {
            item("BODYPARTSTRUCTURE");
            append_body_structure(joined, decoded ? *decoded : *part, text.text(), true);
          }
        }
        if (ok && items->body) {
          auto body = url_data(url_text, true, why);
          ok = body.has_value();
          if (ok) {
            item("BODY");
            append_literal(joined, *body);
          }
        }
        if (ok && items->binary) {
          auto bin = binary_content(text.text(), *part, url.section.empty());
          ok = bin.has_value();
          if (!ok) why = "unknown Content-Transfer-Encoding";
          if (ok) {
            apply_partial(url, *bin);
            item("BINARY");
            append_literal(joined, *bin, bin->find('\0') != std::string::npos);  // literal8 only for NUL
          }
        }
        if (ok) data = joined + ")";
      }
      if (data) {
        out += *data;
        continue;
      }
    }
    if (!data) {
      lib::log::info("user=%s: URLFETCH: NIL: %s", login_.c_str(), why.c_str());  // not the URL: its token is a credential
      out += "NIL";
      continue;
    }
    append_literal(out, *data);
  }
  emit(out + "\r\n");
  return {"OK", reply::completed("URLFETCH")};
}

}  // namespace imapd
