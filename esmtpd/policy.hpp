// esmtpd/policy.hpp: who may send what. Local domains (me, locals, hosteddomains,
// esmtpacceptmailfor: COURIER-COMPAT.md section 4), bofh directives, and the
// recipient check at RCPT time (aliases, then authdaemond).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/dbfile.hpp"
#include "lib/result.hpp"

namespace esmtpd {

enum class DomainKind {
  local,     // me or locals: the domain is stripped, the local part is an account
  hosted,    // hosteddomains: the full address is the account
  accepted,  // esmtpacceptmailfor only: accepted, delivered by courierd's routes
  foreign,   // relaying: needs RELAYCLIENT or AUTH
};
const char* domain_kind_name(DomainKind kind);

// A "locals"-style list: "domain", ".domain" (any subdomain), "!host" (exclusion,
// placed before the wildcard that would match it). First match wins.
bool list_matches(const std::vector<std::string>& list, std::string_view domain);

struct Bofh {
  std::size_t maxrcpts = 100;
  bool maxrcpts_hard = false;
  std::vector<std::string> badfrom;   // user@domain, @domain, @.domain, user@.domain
  std::vector<std::string> spamtrap;  // addresses
  std::vector<std::string> freemail;  // domains
  std::vector<std::string> badmx;     // IPs (checked with BOFHCHECKDNS)
  std::vector<std::string> warnings;  // unknown directives, for the log
};
// Parses bofh's text. Unknown directives become warnings (Courier ignores them).
lib::Result<Bofh> parse_bofh(std::string_view text, const std::string& path);
bool badfrom_matches(const Bofh& bofh, std::string_view address);

class Domains {
 public:
  // Reads SYSCONFDIR's me, locals, hosteddomains.dat, esmtpacceptmailfor and
  // esmtpacceptmailfor.dat. Missing files are normal (defaults); unreadable ones are
  // errors naming them.
  static lib::Result<Domains> load(const std::string& sysconfdir);
  // For tests.
  static Domains make(std::string me, std::vector<std::string> locals,
                      std::vector<std::string> accept);

  const std::string& me() const { return me_; }
  // Classifies a domain (case-insensitive). For a hosted domain alias, canonical
  // receives the domain it stands for.
  lib::Result<DomainKind> classify(std::string_view domain, std::string* canonical = nullptr) const;

 private:
  std::string me_;
  std::vector<std::string> locals_;
  std::vector<std::string> accept_;
  std::shared_ptr<lib::DbFile> hosted_;
  std::shared_ptr<lib::DbFile> accept_dat_;
};

// The host name: SYSCONFDIR/me, else gethostname().
std::string read_me(const std::string& sysconfdir);

}  // namespace esmtpd
