// courierd/settings.cpp: see settings.hpp.
#include "courierd/settings.hpp"

#include <unistd.h>

#include <array>
#include <cctype>
#include <functional>
#include <optional>
#include <cerrno>
#include <cstdlib>

#include "build-config.h"
#include "courierd/text.hpp"
#include "lib/ascii.hpp"
#include "lib/config.hpp"

namespace courierd {

namespace {

// A one-value control file: its first non-comment line, or nullopt when absent.
lib::Result<std::optional<std::string>> control_value(const std::string& dir, const std::string& name) {
  int open_errno = 0;
  auto text = lib::read_small_file(dir + "/" + name, 64 * 1024, &open_errno);
  if (!text) {
    if (open_errno == ENOENT) return std::optional<std::string>{};
    return text.error();
  }
  size_t pos = 0;
  const std::string& t = *text;
  while (pos < t.size()) {
    auto nl = t.find('\n', pos);
    std::string line = trim(std::string_view(t).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    pos = nl == std::string::npos ? t.size() : nl + 1;
    if (!line.empty() && line[0] != '#') return std::optional<std::string>{line};
  }
  return std::optional<std::string>{std::string{}};
}

lib::Result<std::vector<std::string>> control_list(const std::string& dir, const std::string& name) {
  std::vector<std::string> out;
  std::string path = dir + "/" + name;
  if (::access(path.c_str(), F_OK) != 0) return out;
  auto entries = lib::read_list_source(path);
  if (!entries) return entries.error();
  for (auto& e : *entries) out.push_back(lib::ascii::to_lower(e.text));
  return out;
}

}  // namespace

lib::Result<Settings> load_settings(const std::string& sysconfdir_override) {
  Settings s;
  s.sysconfdir = sysconfdir_override;
  if (s.sysconfdir.empty()) {
    const char* env = std::getenv("COURIER_SYSCONFDIR");
    s.sysconfdir = env && *env ? env : SYSCONFDIR;
  }
  const char* qenv = std::getenv("COURIER_QUEUEDIR");
  s.queuedir = qenv && *qenv ? qenv : std::string(LOCALSTATEDIR) + "/spool/courier";
  s.maildrop = std::string(BINDIR) + "/maildrop";
  s.mailuser = MAILUSER;

  // The shell-style courierd file.
  s.config_file = s.sysconfdir + "/courierd";
  lib::Config cfg;
  if (::access(s.config_file.c_str(), F_OK) == 0) {
    auto loaded = lib::Config::load_file(s.config_file);
    if (!loaded) return loaded.error();
    cfg = std::move(*loaded);
  } else {
    s.warnings.push_back(s.config_file + " is missing: using the defaults (install it from " + s.config_file +
                         ".dist)");
  }
  static constexpr std::array<std::string_view, 20> known = {
      "DEFAULTDELIVERY", "MAILDROP",    "MAILDROPDEFAULT", "MAILUSER",   "MAILGROUP",
      "LOGFILE",         "MAXDELS",     "MAXHOST",         "MAXLOCAL",   "QUEUESCAN",
      "ESMTP_DNS_SERVER", "ESMTP_USE_STARTTLS", "ESMTP_BLOCKBACKSCATTER", "DSNTOAUTHADDR",
      "ESMTP_TLS_VERIFY_DOMAIN", "TLS_TRUSTCERTS", "TLS_VERIFYPEER", "DYNAMICDELIVERIES",
      "ESMTP_CORK", "ESMTP_PREFER_IPV6_MX"};
  cfg.warn_unknown(known);
  s.default_delivery = cfg.get_string("DEFAULTDELIVERY", s.default_delivery);
  s.maildrop = cfg.get_string("MAILDROP", s.maildrop);
  s.mailuser = cfg.get_string("MAILUSER", s.mailuser);
  s.mailgroup = cfg.get_string("MAILGROUP", "");
  s.logfile = cfg.get_string("LOGFILE", "");
  s.max_deliveries = static_cast<int>(cfg.get_int("MAXDELS", 40, 1, 10000));
  s.max_per_host = static_cast<int>(cfg.get_int("MAXHOST", 4, 1, 10000));
  s.max_local = static_cast<int>(cfg.get_int("MAXLOCAL", 10, 1, 10000));
  s.scan_interval = cfg.get_duration("QUEUESCAN", s.scan_interval);
  s.dns_server = cfg.get_string("ESMTP_DNS_SERVER", "");
  s.use_starttls = cfg.get_bool("ESMTP_USE_STARTTLS", true);
  s.tls_verify_domain = cfg.get_bool("ESMTP_TLS_VERIFY_DOMAIN", false) ||
                        lib::ascii::to_lower(cfg.get_string("TLS_VERIFYPEER", "NONE")) == "peer";
  s.tls_trustcerts = cfg.get_string("TLS_TRUSTCERTS", "");
  s.block_backscatter = cfg.get_list("ESMTP_BLOCKBACKSCATTER");
  s.dsn_to_auth_addr = cfg.get_bool("DSNTOAUTHADDR", false);
  for (const auto& w : cfg.warnings()) s.warnings.push_back(w);

  // Control files.
  auto me = control_value(s.sysconfdir, "me");
  if (!me) return me.error();
  if (*me && !(*me)->empty()) {
    s.me = **me;
  } else {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    s.me = host;
  }
  s.me = lib::ascii::to_lower(s.me);
  auto locals = control_list(s.sysconfdir, "locals");
  if (!locals) return locals.error();
  s.locals = *locals;
  auto hosted = control_list(s.sysconfdir, "hosteddomains");
  if (!hosted) return hosted.error();
  for (auto& line : *hosted) {
    // "alias<TAB>domain" lines make an alias domain: both are hosted here.
    auto tab = line.find_first_of(" \t");
    s.hosteddomains.push_back(trim(line.substr(0, tab)));
  }
  struct DurationFile {
    const char* name;
    std::chrono::seconds* target;
  };
  const DurationFile durations[] = {
      {"queuetime", &s.retry.queuetime}, {"warntime", &s.retry.warntime},
      {"retryalpha", &s.retry.alpha},    {"retrygamma", &s.retry.gamma},
      {"localtimeout", &s.local_timeout}, {"esmtptimeout", &s.timeout},
      {"esmtptimeoutconnect", &s.timeout_connect}, {"esmtptimeouthelo", &s.timeout_helo},
      {"esmtptimeoutdata", &s.timeout_data}, {"esmtptimeoutquit", &s.timeout_quit},
  };
  for (const auto& d : durations) {
    auto v = control_value(s.sysconfdir, d.name);
    if (!v) return v.error();
    if (!*v || (*v)->empty()) continue;
    auto parsed = lib::parse_duration(**v);
    if (!parsed)
      return lib::permanent_error(s.sysconfdir + "/" + d.name + ": \"" + **v +
                                  "\" is not a time (write e.g. 300, 5m, 2h or 1w2d)");
    *d.target = *parsed;
  }
  struct IntFile {
    const char* name;
    long long min, max;
    std::function<void(long long)> set;
  };
  const IntFile ints[] = {
      {"retrybeta", 1, 1000, [&](long long v) { s.retry.beta = static_cast<int>(v); }},
      {"retrymaxdelta", 0, 30, [&](long long v) { s.retry.max_delta = static_cast<int>(v); }},
      {"batchsize", 1, 100000, [&](long long v) { s.batch_size = static_cast<size_t>(v); }},
      {"dsnlimit", 0, 1LL << 40, [&](long long v) { s.dsnlimit = static_cast<size_t>(v); }},
  };
  for (const auto& i : ints) {
    auto v = control_value(s.sysconfdir, i.name);
    if (!v) return v.error();
    if (!*v || (*v)->empty()) continue;
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll((*v)->c_str(), &end, 10);
    if (errno || *end || n < i.min || n > i.max)
      return lib::permanent_error(s.sysconfdir + "/" + i.name + ": \"" + **v + "\" is not a number from " +
                                  std::to_string(i.min) + " to " + std::to_string(i.max));
    i.set(n);
  }
  auto sep = control_value(s.sysconfdir, "defaultsep");
  if (!sep) return sep.error();
  if (*sep && !(*sep)->empty()) s.defaultsep = **sep;
  auto dsnfrom = control_value(s.sysconfdir, "dsnfrom");
  if (!dsnfrom) return dsnfrom.error();
  s.dsnfrom = *dsnfrom && !(*dsnfrom)->empty() ? **dsnfrom : "\"Courier mail server at " + s.me + "\" <@>";
  auto helo = control_value(s.sysconfdir, "esmtphelo");
  if (!helo) return helo.error();
  s.esmtphelo = *helo && !(*helo)->empty() && **helo != "*" ? **helo : s.me;

  // esmtproutes and esmtpauthclient.
  int open_errno = 0;
  std::string routes_path = s.sysconfdir + "/esmtproutes";
  auto routes_text = lib::read_small_file(routes_path, 4 * 1024 * 1024, &open_errno);
  if (routes_text) {
    auto routes = parse_routes(*routes_text, routes_path);
    if (!routes) return routes.error();
    s.routes = std::move(*routes);
  } else if (open_errno != ENOENT) {
    return routes_text.error();
  }
  std::string auth_path = s.sysconfdir + "/esmtpauthclient";
  auto auth_text = lib::read_small_file(auth_path, 1024 * 1024, &open_errno);
  if (auth_text) {
    auto entries = parse_auth_client(*auth_text, auth_path);
    if (!entries) return entries.error();
    s.auth_client = std::move(*entries);
  } else if (open_errno != ENOENT) {
    s.warnings.push_back(auth_text.error().message +
                         " (AUTH to a smarthost is not used; make it readable by the mail user, mode 600)");
  }
  return s;
}

namespace {
bool domain_matches_locals(const std::vector<std::string>& locals, const std::string& domain) {
  for (const auto& l : locals) {
    if (l.empty()) continue;
    if (l[0] == '!') {
      if (l.substr(1) == domain) return false;
      continue;
    }
    if (l == domain) return true;
    if (l[0] == '.' && domain.size() > l.size() && domain.compare(domain.size() - l.size(), l.size(), l) == 0)
      return true;
  }
  return false;
}
}  // namespace

Destination classify(const Settings& s, const std::string& address) {
  Destination d;
  auto at = address.rfind('@');
  if (at == std::string::npos) {
    d.local = true;
    d.account_key = address;
    return d;
  }
  d.domain = lib::ascii::to_lower(std::string_view(address).substr(at + 1));
  std::string local_part = address.substr(0, at);
  if (d.domain == s.me || domain_matches_locals(s.locals, d.domain)) {
    d.local = true;
    d.account_key = local_part;
    return d;
  }
  for (const auto& h : s.hosteddomains) {
    if (h == d.domain) {
      d.local = true;
      d.account_key = local_part + "@" + d.domain;
      return d;
    }
  }
  return d;
}

std::vector<AccountCandidate> account_candidates(const std::string& key, const std::string& defaultsep) {
  std::string local = key, domain;
  auto at = key.rfind('@');
  if (at != std::string::npos) {
    local = key.substr(0, at);
    domain = key.substr(at);
  }
  std::vector<AccountCandidate> out;
  out.push_back({local + domain, ""});
  std::string seps = "-" + defaultsep;
  for (size_t pos = local.find_last_of(seps); pos != std::string::npos && pos > 0;
       pos = pos == 0 ? std::string::npos : local.find_last_of(seps, pos - 1)) {
    out.push_back({local.substr(0, pos) + domain, local.substr(pos + 1)});
  }
  return out;
}

namespace {
// The program of the first "| command" line of a delivery instruction, or "".
std::string program_of(const std::string& delivery) {
  size_t pos = 0;
  while (pos < delivery.size()) {
    auto nl = delivery.find('\n', pos);
    std::string line = trim(std::string_view(delivery).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    pos = nl == std::string::npos ? delivery.size() : nl + 1;
    if (line.empty() || line[0] != '|') continue;
    line = trim(line.substr(line.size() > 1 && line[1] == '|' ? 2 : 1));
    auto sp = line.find_first_of(" \t");
    return line.substr(0, sp);
  }
  return {};
}
}  // namespace

lib::Result<void> check_delivery_program(const Settings& s) {
  std::string program = program_of(s.default_delivery);
  if (program.empty()) return {};
  std::string path = program;
  if (program.find('/') == std::string::npos) {
    const char* env_path = std::getenv("PATH");
    std::string dirs = env_path ? env_path : "/usr/bin:/bin";
    path.clear();
    size_t p = 0;
    while (p <= dirs.size()) {
      auto colon = dirs.find(':', p);
      std::string dir = dirs.substr(p, colon == std::string::npos ? std::string::npos : colon - p);
      std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
      if (::access(candidate.c_str(), X_OK) == 0) {
        path = candidate;
        break;
      }
      if (colon == std::string::npos) break;
      p = colon + 1;
    }
    if (path.empty())
      return lib::temporary_error("DEFAULTDELIVERY in " + s.config_file + " runs \"" + program +
                                  "\", which is not in PATH: give its full path, or install it");
  }
  if (::access(path.c_str(), X_OK) != 0)
    return lib::temporary_error("DEFAULTDELIVERY in " + s.config_file + " runs " + path +
                                ", which cannot be executed (" + lib::errno_text(errno) +
                                "): install it (maildrop: set MAILDROP to its path) or change DEFAULTDELIVERY");
  return {};
}

}  // namespace courierd
