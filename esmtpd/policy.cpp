// esmtpd/policy.cpp: see policy.hpp.
#include "esmtpd/policy.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "esmtpd/command.hpp"
#include "lib/config.hpp"

namespace esmtpd {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return std::string(s);
}

bool ends_with_domain(std::string_view domain, std::string_view suffix) {
  return domain.size() > suffix.size() && domain.substr(domain.size() - suffix.size()) == suffix &&
         suffix.front() == '.';
}

// Lines of a list file (missing: empty). Errors for unreadable files.
lib::Result<std::vector<std::string>> read_list(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0) return std::vector<std::string>{};
  auto entries = lib::read_list_source(path);
  if (!entries) return entries.error();
  std::vector<std::string> out;
  for (auto& e : *entries) out.push_back(lower(e.text));
  return out;
}

std::shared_ptr<lib::DbFile> open_dat(const std::string& path, const char* tool, lib::Error* error) {
  if (::access(path.c_str(), F_OK) != 0) return nullptr;
  auto db = lib::DbFile::open_read(path, tool);
  if (!db) {
    *error = db.error();
    return nullptr;
  }
  return std::make_shared<lib::DbFile>(std::move(*db));
}

}  // namespace

const char* domain_kind_name(DomainKind kind) {
  switch (kind) {
    case DomainKind::local: return "local";
    case DomainKind::hosted: return "hosted";
    case DomainKind::accepted: return "accepted";
    case DomainKind::foreign: return "foreign";
  }
  return "foreign";
}

bool list_matches(const std::vector<std::string>& list, std::string_view domain) {
  std::string d = lower(domain);
  for (const auto& e : list) {
    if (e.empty()) continue;
    if (e[0] == '!') {
      if (d == e.substr(1)) return false;
    } else if (e[0] == '.') {
      if (ends_with_domain(d, e)) return true;
    } else if (d == e) {
      return true;
    }
  }
  return false;
}

std::string read_me(const std::string& sysconfdir) {
  auto text = lib::read_small_file(sysconfdir + "/me", 4096);
  if (text) {
    std::string me = lower(trim(*text));
    auto lf = me.find('\n');
    if (lf != std::string::npos) me = trim(me.substr(0, lf));
    if (!me.empty()) return me;
  }
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return lower(buf);
  return "localhost";
}

lib::Result<Domains> Domains::load(const std::string& sysconfdir) {
  Domains d;
  d.me_ = read_me(sysconfdir);
  auto locals = read_list(sysconfdir + "/locals");
  if (!locals) return locals.error();
  d.locals_ = std::move(*locals);
  d.locals_.push_back(d.me_);
  auto accept = read_list(sysconfdir + "/esmtpacceptmailfor");
  if (!accept) return accept.error();
  d.accept_ = std::move(*accept);
  lib::Error err;
  err.message.clear();
  d.hosted_ = open_dat(sysconfdir + "/hosteddomains.dat", "makehosteddomains", &err);
  if (!err.message.empty()) return err;
  d.accept_dat_ = open_dat(sysconfdir + "/esmtpacceptmailfor.dat", "makeacceptmailfor", &err);
  if (!err.message.empty()) return err;
  return d;
}

Domains Domains::make(std::string me, std::vector<std::string> locals, std::vector<std::string> accept) {
  Domains d;
  d.me_ = lower(me);
  d.locals_ = std::move(locals);
  d.locals_.push_back(d.me_);
  d.accept_ = std::move(accept);
  return d;
}

lib::Result<DomainKind> Domains::classify(std::string_view domain, std::string* canonical) const {
  std::string d = lower(domain);
  if (canonical) *canonical = d;
  if (d.empty() || list_matches(locals_, d)) return DomainKind::local;
  if (hosted_) {
    auto r = hosted_->lookup(d);
    if (!r) return r.error();
    if (*r) {
      if (canonical && !(*r)->empty() && **r != "1") *canonical = **r;
      return DomainKind::hosted;
    }
  }
  if (list_matches(accept_, d)) return DomainKind::accepted;
  if (accept_dat_) {
    auto r = accept_dat_->lookup(d);
    if (!r) return r.error();
    if (*r) return DomainKind::accepted;
    // Wildcards: ".parent" keys.
    for (auto dot = d.find('.'); dot != std::string::npos; dot = d.find('.', dot + 1)) {
      auto w = accept_dat_->lookup(d.substr(dot));
      if (!w) return w.error();
      if (*w) return DomainKind::accepted;
    }
  }
  return DomainKind::foreign;
}

lib::Result<Bofh> parse_bofh(std::string_view text, const std::string& path) {
  Bofh b;
  int lineno = 0;
  while (!text.empty()) {
    ++lineno;
    auto lf = text.find('\n');
    std::string line = trim(text.substr(0, lf));
    text = lf == std::string_view::npos ? std::string_view() : text.substr(lf + 1);
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find_first_of(" \t");
    std::string key = lower(line.substr(0, sp));
    std::string rest = sp == std::string::npos ? "" : trim(line.substr(sp));
    std::vector<std::string> words;
    for (std::size_t i = 0; i < rest.size();) {
      auto j = rest.find_first_of(" \t", i);
      std::string w = rest.substr(i, j == std::string::npos ? std::string::npos : j - i);
      if (!w.empty()) words.push_back(lower(w));
      if (j == std::string::npos) break;
      i = j + 1;
    }
    std::string where = path + ":" + std::to_string(lineno);
    if (key == "maxrcpts") {
      std::size_t n = 0;
      if (words.empty() || std::from_chars(words[0].data(), words[0].data() + words[0].size(), n).ec != std::errc() || n == 0)
        return lib::permanent_error(where + ": maxrcpts needs a positive number, e.g. 'maxrcpts 100'");
      b.maxrcpts = n;
      b.maxrcpts_hard = words.size() > 1 && words[1] == "hard";
    } else if (key == "badfrom") {
      for (auto& w : words) b.badfrom.push_back(w);
    } else if (key == "spamtrap") {
      for (auto& w : words) b.spamtrap.push_back(w);
    } else if (key == "freemail") {
      for (auto& w : words) b.freemail.push_back(w);
    } else if (key == "badmx") {
      for (auto& w : words) b.badmx.push_back(w);
    } else {
      b.warnings.push_back(where + ": bofh directive '" + key + "' is not supported by this esmtpd; ignored");
    }
  }
  return b;
}

bool badfrom_matches(const Bofh& bofh, std::string_view address) {
  auto [local, domain] = split_address(lower(address));
  for (const auto& p : bofh.badfrom) {
    auto at = p.rfind('@');
    if (at == std::string::npos) continue;
    std::string pl = p.substr(0, at), pd = p.substr(at + 1);
    if (!pl.empty() && pl != local) continue;
    if (!pd.empty() && pd[0] == '.') {
      if (domain == pd.substr(1) || ends_with_domain(domain, pd)) return true;
    } else if (pd == domain) {
      return true;
    }
  }
  return false;
}

}  // namespace esmtpd
