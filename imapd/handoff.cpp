// imapd/handoff.cpp: see handoff.hpp.
#include "imapd/handoff.hpp"

#include <string_view>

#include "authlib/client.hpp"
#include "lib/mime.hpp"

namespace imapd {
namespace {

std::string_view name_of(std::string_view kv) { return kv.substr(0, kv.find('=')); }

// IMAPLOGINPIPELINED decoded, canonical base64 only (what to_environment
// writes).
lib::Result<std::string> decode_pipelined(std::string_view text) {
  std::string decoded;
  switch (lib::mime::decode_base64_strict(text, Handoff::max_pipelined_bytes, decoded)) {
    case lib::mime::StrictBase64::ok: return decoded;
    case lib::mime::StrictBase64::too_long:
      return lib::permanent_error("IMAPLOGINPIPELINED (the commands pipelined behind the login, from imaplogin): "
                                  "more than " + std::to_string(Handoff::max_pipelined_bytes) + " bytes");
    case lib::mime::StrictBase64::invalid: break;
  }
  return lib::permanent_error("IMAPLOGINPIPELINED (the commands pipelined behind the login, from imaplogin): "
                              "not canonical base64");
}

}  // namespace

Handoff Handoff::after_login(const authlib::Account& account, std::string login, std::string tag, bool tls) {
  Handoff h;
  h.login = std::move(login);
  h.tag = std::move(tag);
  h.home = account.home;
  h.address = account.address;
  h.fullname = account.fullname;
  h.maildir = account.maildir;
  h.quota = account.quota;
  h.options = account.options;
  h.tls = tls;
  return h;
}

std::vector<std::string> Handoff::to_environment() const {
  authlib::Account a;
  a.home = home;
  a.address = address;
  a.fullname = fullname;
  a.maildir = maildir;
  a.quota = quota;
  a.options = options;
  std::vector<std::string> env = authlib::account_environment(a, login);
  env.push_back("IMAPLOGINTAG=" + tag);
  if (tls) env.emplace_back("IMAP_TLS=1");
  if (!pipelined.empty()) env.push_back("IMAPLOGINPIPELINED=" + lib::mime::encode_base64(pipelined, 0));
  return env;
}

lib::Result<Handoff> Handoff::from_environment(char** envp) {
  Handoff h;
  bool authenticated = false;
  for (char** e = envp; e && *e; ++e) {
    std::string_view kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = kv.substr(0, eq);
    std::string value(kv.substr(eq + 1));
    if (name == "AUTHENTICATED") {
      h.login = std::move(value);
      authenticated = !h.login.empty();
    } else if (name == "IMAPLOGINTAG") {
      h.tag = std::move(value);
    } else if (name == "HOME") {
      h.home = std::move(value);
    } else if (name == "AUTHADDR") {
      h.address = std::move(value);
    } else if (name == "AUTHFULLNAME") {
      h.fullname = std::move(value);
    } else if (name == "MAILDIR") {
      h.maildir = std::move(value);
    } else if (name == "MAILDIRQUOTA") {
      h.quota = std::move(value);
    } else if (name == "OPTIONS") {
      h.options = std::move(value);
    } else if (name == "IMAP_TLS") {
      h.tls = value == "1";
    } else if (name == "IMAPLOGINPIPELINED") {
      auto bytes = decode_pipelined(value);
      if (!bytes) return bytes.error();
      h.pipelined = std::move(bytes.value());
    }
  }
  if (!authenticated)
    return lib::permanent_error("imapd started without AUTHENTICATED in the environment: it is run by imaplogin "
                                "after a login (couriertcpd ... imaplogin " LIBEXECDIR "/imapd Maildir)");
  return h;
}

std::vector<std::string> merge_environment(char** inherited, const std::vector<std::string>& over) {
  std::vector<std::string> out;
  for (char** e = inherited; e && *e; ++e) {
    std::string_view kv = *e;
    bool replaced = false;
    for (const auto& o : over)
      if (name_of(o) == name_of(kv)) replaced = true;
    if (!replaced) out.emplace_back(kv);
  }
  out.insert(out.end(), over.begin(), over.end());
  return out;
}

}  // namespace imapd
