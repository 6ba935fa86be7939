// authlib/module_ldap.cpp: authldap on OpenLDAP's libldap: the connections and
// the module (settings, filters and entries are in ldap_settings.cpp).
//
// RFCs: 4511 (the protocol: search, simple bind, modify, result codes), 4513
// section 5.1 (simple bind; an empty password is an unauthenticated bind,
// which servers let through, so we never send one), 4515 (filter strings and
// escaping), 4526 (absolute true/false filters), 2696 (paged results, for
// ENUMERATE), 4516/4514 for URIs through ldap_url_parse.
//
// SECURITY: the login name is untrusted: it is length-checked, refused with
// control characters, and escaped into the filter, so it can only ever be
// compared with LDAP_MAIL. Values read from the directory may be writable by
// the users themselves (a self-write ACL on cn or sharedgroup is common), so
// a value with a control character (which could add lines to the authdaemon
// reply) or an option value with a comma (which could add options such as
// group=administrators) makes the account unusable instead of being passed on.
// Passwords live in lib::Secret and never reach a log line or a reason.
#include "authlib/module_ldap.hpp"

#include <lber.h>
#include <ldap.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <variant>

#include "authlib/password.hpp"
#include "lib/ascii.hpp"
#include "lib/c_handle.hpp"
#include "lib/log.hpp"

namespace authlib {
namespace {

using ldap_detail::and_filter;
using ldap_detail::has_control;
using ldap_detail::item_filter;
using lib::ascii::iequals;

// ---------------------------------------------------------------------------
// libldap handles

// ldap_unbind_ext_s wants more than the pointer's owner knows: a handle
// inherited across fork() must not send an unbind on the parent's socket, so
// it is only destroyed.
class LdapHandle {
 public:
  LdapHandle() = default;
  explicit LdapHandle(LDAP* ld) noexcept : ld_(ld), owner_(::getpid()) {}
  LdapHandle(const LdapHandle&) = delete;
  LdapHandle& operator=(const LdapHandle&) = delete;
  LdapHandle(LdapHandle&& other) noexcept : ld_(std::exchange(other.ld_, nullptr)), owner_(other.owner_) {}
  LdapHandle& operator=(LdapHandle&& other) noexcept {
    if (this != &other) {
      reset();
      ld_ = std::exchange(other.ld_, nullptr);
      owner_ = other.owner_;
    }
    return *this;
  }
  ~LdapHandle() { reset(); }

  void reset() noexcept {
    if (!ld_) return;
    if (owner_ == ::getpid())
      ::ldap_unbind_ext_s(ld_, nullptr, nullptr);
    else
      ::ldap_destroy(ld_);
    ld_ = nullptr;
  }
  LDAP* get() const noexcept { return ld_; }
  explicit operator bool() const noexcept { return ld_ != nullptr; }

 private:
  LDAP* ld_ = nullptr;
  pid_t owner_ = 0;
};

using LdapMessagePtr = lib::CHandle<LDAPMessage, ldap_msgfree>;
using BervalArray = lib::CHandle<berval*, ldap_value_free_len>;
using LdapString = lib::CHandle<char, ldap_memfree>;
using LdapControlPtr = lib::CHandle<LDAPControl, ldap_control_free>;
using LdapControlArray = lib::CHandle<LDAPControl*, ldap_controls_free>;

// Result codes that mean the connection is no use any more: the client
// library's own errors (server down, timeout, connect error, ...) and a
// server that says it is unavailable or busy. Worth one try on a new
// connection (which may also reach the next server of LDAP_URI).
bool connection_failed(int rc) { return rc < 0 || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY; }

std::string diagnostic(LDAP* ld) {
  char* msg = nullptr;
  if (!ld || ::ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) != LDAP_OPT_SUCCESS || !msg) return {};
  LdapString holder(msg);
  std::string text(msg);
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  return text;
}

// "ldap_search_ext_s: Can't contact LDAP server (diagnostic)"
std::string ldap_text(LDAP* ld, std::string_view operation, int rc) {
  std::string text = std::string(operation) + ": " + ::ldap_err2string(rc);
  std::string diag = diagnostic(ld);
  if (!diag.empty()) text += " (" + diag + ")";
  return text;
}

berval secret_berval(const lib::Secret& secret) {
  // libldap takes a non-const berval but only reads the password.
  return berval{static_cast<ber_len_t>(secret.size()), const_cast<char*>(secret.reveal().data())};
}

// The connection was lost or never made: worth a retry on a new one.
struct Lost {
  std::string message;     // ldap_text() of the failed call
  bool timed_out = false;  // LDAP_TIMEOUT: the server did not answer in time
  bool reused = false;     // the connection had served an earlier operation
};

// A step of a request: its value, a final answer (rejected or temporary),
// or a lost connection.
struct Done {};
template <class T>
using Step = std::variant<T, ModuleReply, Lost>;

Lost lost(LDAP* ld, std::string_view operation, int rc, bool reused) {
  return Lost{ldap_text(ld, operation, rc), rc == LDAP_TIMEOUT, reused};
}

// One connection to the directory, opened on first use and kept across
// requests.
class LdapConnection {
 public:
  // Opens the connection if it is not open: ldap_initialize, options,
  // StartTLS (LDAP_TLS) and, if service_bind, the bind as LDAP_BINDDN
  // (LDAP_INITBIND). Nothing is sent before the first operation.
  Step<Done> open(const LdapSettings& s, bool service_bind) {
    if (handle_) return Done{};
    LDAP* raw = nullptr;
    int rc = ::ldap_initialize(&raw, s.uri.c_str());
    if (rc != LDAP_SUCCESS || !raw)
      return ModuleReply::temporary("ldap_initialize(" + s.uri + "): " + ::ldap_err2string(rc) + "; check " +
                                    s.ref("LDAP_URI"));
    LdapHandle h(raw);
    int version = s.protocol_version;
    timeval tv{static_cast<time_t>(s.timeout.count()), 0};
    int deref = s.deref == LdapDeref::never       ? LDAP_DEREF_NEVER
                : s.deref == LdapDeref::searching ? LDAP_DEREF_SEARCHING
                : s.deref == LdapDeref::finding   ? LDAP_DEREF_FINDING
                                                  : LDAP_DEREF_ALWAYS;
    struct Option {
      int option;
      const void* value;
      const char* name;
    };
    // Referrals stay off: following one would send our binds to a server
    // that LDAP_URI does not name.
    const Option options[] = {
        {LDAP_OPT_PROTOCOL_VERSION, &version, "LDAP_OPT_PROTOCOL_VERSION"},
        {LDAP_OPT_NETWORK_TIMEOUT, &tv, "LDAP_OPT_NETWORK_TIMEOUT"},
        {LDAP_OPT_TIMEOUT, &tv, "LDAP_OPT_TIMEOUT"},
        {LDAP_OPT_DEREF, &deref, "LDAP_OPT_DEREF"},
        {LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "LDAP_OPT_REFERRALS"},
        // authdaemond's AUTH_TIMEOUT watchdog (authlib/daemon.cpp) re-arms
        // itself with a SIGALRM while requests keep coming: a wait it
        // interrupts goes on (without this, libldap takes the EINTR of its
        // poll() for a server that is down).
        {LDAP_OPT_RESTART, LDAP_OPT_ON, "LDAP_OPT_RESTART"},
    };
    for (const Option& o : options) {
      rc = ::ldap_set_option(h.get(), o.option, o.value);
      if (rc != LDAP_OPT_SUCCESS)
        return ModuleReply::temporary(std::string("ldap_set_option(") + o.name + ") for " + s.uri +
                                      " failed: " + ::ldap_err2string(rc));
    }
    if (s.start_tls) {
      rc = ::ldap_start_tls_s(h.get(), nullptr, nullptr);
      if (rc != LDAP_SUCCESS) {
        if (connection_failed(rc)) {
          Lost l = lost(h.get(), "ldap_start_tls_s", rc, false);
          l.message += "; if the certificate is the problem, set LDAPTLS_CACERT in authdaemonrc or TLS_CACERT in "
                       "ldap.conf";
          return l;
        }
        return ModuleReply::temporary("StartTLS with " + s.uri + " failed: " + ldap_text(h.get(), "ldap_start_tls_s", rc) +
                                      "; the server must offer StartTLS for " + s.ref("LDAP_TLS"));
      }
    }
    if (service_bind && s.init_bind) {
      berval cred = secret_berval(s.bind_password);
      rc = ::ldap_sasl_bind_s(h.get(), s.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
      if (rc != LDAP_SUCCESS) {
        if (connection_failed(rc)) return lost(h.get(), "ldap_sasl_bind_s", rc, false);
        return ModuleReply::temporary("the service bind as " + s.bind_dn + " was refused by " + s.uri + ": " +
                                      ldap_text(h.get(), "ldap_sasl_bind_s", rc) + "; fix " + s.ref("LDAP_BINDDN") +
                                      " and " + s.ref("LDAP_BINDPW"));
      }
    }
    handle_ = std::move(h);
    used_ = false;
    return Done{};
  }

  void close() noexcept {
    handle_.reset();
    used_ = false;
  }
  LDAP* get() const noexcept { return handle_.get(); }
  // Whether an operation already went through this connection (so a failure
  // may just mean that the server closed it while it was idle).
  bool used() const noexcept { return used_; }
  void mark_used() noexcept { used_ = true; }

 private:
  LdapHandle handle_;
  bool used_ = false;
};

// An entry as read, with a problem that makes it unusable (an oversized value).
struct ReadEntry {
  LdapEntry entry;
  std::string problem;
};

ReadEntry read_entry(LDAP* ld, LDAPMessage* msg, const std::vector<std::string>& attributes) {
  ReadEntry out;
  if (char* dn = ::ldap_get_dn(ld, msg)) {
    LdapString holder(dn);
    out.entry.dn = dn;
  }
  if (out.entry.dn.empty()) {
    out.problem = "the server returned an entry without a DN";
    return out;
  }
  for (const std::string& attr : attributes) {
    BervalArray vals(::ldap_get_values_len(ld, msg, attr.c_str()));
    if (!vals) continue;
    std::vector<std::string> values;
    for (berval** v = vals.get(); *v && values.size() < ldap_max_values_per_attribute; ++v) {
      if ((*v)->bv_len > ldap_max_value_bytes) {
        out.problem = "attribute " + attr + " of " + out.entry.dn + " holds a value of " +
                      std::to_string((*v)->bv_len) + " bytes, over the limit of " +
                      std::to_string(ldap_max_value_bytes);
        return out;
      }
      values.emplace_back((*v)->bv_val, (*v)->bv_len);
    }
    out.entry.attributes.emplace_back(attr, std::move(values));
  }
  return out;
}

// The attributes a lookup asks for, each once.
std::vector<std::string> lookup_attributes(const LdapSettings& s, bool for_enumerate) {
  std::vector<std::string> out;
  auto add = [&](const std::string& a) {
    if (a.empty()) return;
    for (const std::string& have : out)
      if (iequals(have, a)) return;
    out.push_back(a);
  };
  add(s.mail_attribute);
  add(s.home_attribute);
  add(s.uid_attribute);
  add(s.gid_attribute);
  add(s.maildir_attribute);
  for (const LdapAuxOption& o : s.aux_options) add(o.attribute);
  if (!for_enumerate) {
    add(s.default_delivery_attribute);
    add(s.quota_attribute);
    add(s.fullname_attribute);
    add(s.clear_password_attribute);
    add(s.crypt_password_attribute);
  }
  return out;
}

// A NULL-terminated char* array over strings that outlive it.
std::vector<char*> c_array(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// A checked login name, or why it is refused.
std::optional<std::string> login_problem(std::string_view login) {
  if (login.empty()) return "empty login name";
  if (login.size() > ldap_max_login_bytes)
    return "login name of " + std::to_string(login.size()) + " bytes is over the limit of " +
           std::to_string(ldap_max_login_bytes);
  if (has_control(login)) return "login name holds a control character";
  return std::nullopt;
}

struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  timespec mtime{};
  timespec ctime{};

  bool operator==(const FileStamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
  }
};

std::optional<FileStamp> stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
}

lib::Result<LdapSettings> load_settings(const std::string& path) {
  auto rc = lib::Config::load_spaced_file(path);
  if (!rc)
    return lib::permanent_error(rc.error().message + " (authldaprc: install it from the suite's sysconfdir/authldaprc, "
                                                     "or point AUTHLDAPRC in authdaemonrc at it)");
  return parse_ldap_settings(rc.value(), path);
}

// The scheme of a new password hash: that of the old one if it is a strong
// crypt(3) scheme (so the directory's other readers keep understanding it),
// else yescrypt.
Scheme new_hash_scheme(std::string_view old_hash) {
  switch (Scheme s = detect_scheme(old_hash)) {
    case Scheme::yescrypt:
    case Scheme::sha512_crypt:
    case Scheme::sha256_crypt:
    case Scheme::bcrypt:
      return s;
    default:
      return Scheme::yescrypt;
  }
}

// ---------------------------------------------------------------------------
// The module

class LdapModule final : public Module {
 public:
  LdapModule(LdapSettings settings, std::optional<FileStamp> stamp)
      : settings_(std::move(settings)), stamp_(stamp) {}

  std::string_view name() const override { return "authldap"; }

  ModuleReply lookup(std::string_view user, std::string_view service) override {
    reload_if_changed();
    return with_retry([&]() -> std::variant<ModuleReply, Lost> {
      auto found = find_entry(user);
      if (auto* e = std::get_if<LdapEntry>(&found)) return ldap_entry_to_account(settings_, *e, user, service);
      return forward(std::move(found));
    });
  }

  ModuleReply authenticate(const AuthRequest& request) override {
    reload_if_changed();
    const LdapSettings& s = settings_;
    if (!request.cram && request.password.empty()) return ModuleReply::reject("empty password");
    return with_retry([&]() -> std::variant<ModuleReply, Lost> {
      auto found = find_entry(request.user);
      auto* entry = std::get_if<LdapEntry>(&found);
      if (!entry) return forward(std::move(found));
      ModuleReply account = ldap_entry_to_account(s, *entry, request.user, request.service);
      if (account.outcome != Outcome::ok) return account;
      if (request.cram) {
        if (account.account.clear_password.empty())
          return ModuleReply::reject(
              "CRAM needs the clear-text password, and " + entry->dn + " has none: set " + s.ref("LDAP_CLEARPW") +
              " to an attribute that holds it and that LDAP_BINDDN may read (LDAP_AUTHBIND cannot check CRAM)");
        return check_secret(request, std::move(account.account));
      }
      if (s.auth_bind) {
        auto bound = bind_as_user(entry->dn, request.password);
        if (std::holds_alternative<Done>(bound)) return account;
        return forward(std::move(bound));
      }
      return check_password(*entry, std::move(account.account), request.password);
    });
  }

  ModuleReply change_password(std::string_view /*service*/, std::string_view user, const lib::Secret& old_password,
                              const lib::Secret& new_password) override {
    reload_if_changed();
    const LdapSettings& s = settings_;
    if (!s.auth_bind)
      return ModuleReply::reject("authldap changes passwords only with LDAP_AUTHBIND 1 (as the user, whose old "
                                 "password the directory checks): set it in " +
                                 s.path + ", or change the password with the directory's own tools");
    if (s.crypt_password_attribute.empty())
      return ModuleReply::reject("LDAP_CRYPTPW is not set, so there is no password attribute to write; set it in " +
                                 s.path + " (usually userPassword)");
    if (old_password.empty() || new_password.empty()) return ModuleReply::reject("empty password");
    // Once the modify is sent, every outcome is a final answer: a lost
    // connection then is not retried, as the change may have been made.
    return with_retry([&]() -> std::variant<ModuleReply, Lost> {
      auto found = find_entry(user);
      auto* entry = std::get_if<LdapEntry>(&found);
      if (!entry) return forward(std::move(found));
      auto bound = bind_as_user(entry->dn, old_password);
      if (!std::holds_alternative<Done>(bound)) return forward(std::move(bound));

      const std::vector<std::string>* old_hashes = entry->values(s.crypt_password_attribute);
      Scheme scheme = new_hash_scheme(old_hashes && !old_hashes->empty() ? (*old_hashes)[0] : std::string());
      auto hash = make_password_hash(new_password, scheme);
      if (!hash)
        return hash.error().temporary() ? ModuleReply::temporary(hash.error().message)
                                         : ModuleReply::reject("the new password cannot be used: " + hash.error().message);
      lib::Secret crypt_value("{CRYPT}" + hash.value());
      berval crypt_bv = secret_berval(crypt_value);
      berval* crypt_vals[] = {&crypt_bv, nullptr};
      LDAPMod crypt_mod{};
      crypt_mod.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
      crypt_mod.mod_type = const_cast<char*>(s.crypt_password_attribute.c_str());
      crypt_mod.mod_bvalues = crypt_vals;
      // A clear-text copy, where the entry keeps one, must change too, or the
      // old password would still pass CRAM and non-bind checks.
      berval clear_bv = secret_berval(new_password);
      berval* clear_vals[] = {&clear_bv, nullptr};
      LDAPMod clear_mod{};
      clear_mod.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
      clear_mod.mod_type = const_cast<char*>(s.clear_password_attribute.c_str());
      clear_mod.mod_bvalues = clear_vals;
      const bool has_clear = !s.clear_password_attribute.empty() && entry->values(s.clear_password_attribute);
      LDAPMod* mods[] = {&crypt_mod, has_clear ? &clear_mod : nullptr, nullptr};

      lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: changing %s%s of %s as that user",
                         s.crypt_password_attribute.c_str(),
                         has_clear ? (" and " + s.clear_password_attribute).c_str() : "", entry->dn.c_str());
      int rc = ::ldap_modify_ext_s(bind_.get(), entry->dn.c_str(), mods, nullptr, nullptr);
      std::string text = ldap_text(bind_.get(), "ldap_modify_ext_s", rc);
      if (s.protocol_version == 2) bind_.close();
      if (rc == LDAP_SUCCESS) return ModuleReply::found(Account{});
      if (connection_failed(rc)) {
        bind_.close();
        return ModuleReply::temporary("the connection to " + s.uri + " was lost while changing the password of " +
                                      entry->dn + " (" + text +
                                      "); the change may or may not have been made: try the new password");
      }
      if (rc == LDAP_INSUFFICIENT_ACCESS)
        return ModuleReply::reject("the directory does not let " + entry->dn + " write its own " +
                                   s.crypt_password_attribute + (has_clear ? " and " + s.clear_password_attribute : "") +
                                   " (" + text + "); grant it, e.g. in slapd: access to attrs=userPassword by self write");
      return ModuleReply::reject("the directory refused the new password of " + entry->dn + ": " + text);
    });
  }

  lib::Result<void> enumerate(const std::function<void(const Account&)>& fn) override {
    reload_if_changed();
    size_t emitted = 0;
    for (int attempt = 0;; ++attempt) {
      auto r = enumerate_once(fn, emitted);
      if (auto* l = std::get_if<Lost>(&r)) {
        close_all();
        if (attempt == 0 && emitted == 0 && retry_worth(*l)) {
          log_retry(*l);
          continue;
        }
        return lib::temporary_error(unreachable_text(*l, attempt > 0));
      }
      if (auto* reply = std::get_if<ModuleReply>(&r)) {
        if (reply->outcome == Outcome::temporary) return lib::temporary_error(reply->reason);
        return lib::permanent_error(reply->reason);
      }
      return {};
    }
  }

 private:
  // ---- retry and messages

  template <class T>
  static std::variant<ModuleReply, Lost> forward(Step<T>&& step) {
    if (auto* r = std::get_if<ModuleReply>(&step)) return std::move(*r);
    return std::get<Lost>(std::move(step));
  }

  // A timeout on a connection just made will only time out again; anything
  // else may be an idle connection the server closed, or the next server.
  static bool retry_worth(const Lost& l) { return !l.timed_out || l.reused; }

  void close_all() noexcept {
    main_.close();
    bind_.close();
  }

  void log_retry(const Lost& l) {
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: %s: %s; retrying on a new connection", settings_.uri.c_str(),
                       l.message.c_str());
  }

  std::string unreachable_text(const Lost& l, bool retried) const {
    const LdapSettings& s = settings_;
    return "LDAP server " + s.uri + " unreachable: " + l.message + (retried ? " (also on a new connection)" : "") +
           "; check that it runs and that " + s.ref("LDAP_URI") + " names it" +
           (l.timed_out ? ", or raise " + s.ref("LDAP_TIMEOUT") : std::string());
  }

  // Runs one attempt, and once more on new connections when the first lost
  // its connection; then a temporary failure naming the server.
  template <class Fn>
  ModuleReply with_retry(Fn&& attempt_fn) {
    for (int attempt = 0;; ++attempt) {
      std::variant<ModuleReply, Lost> r = attempt_fn();
      if (auto* reply = std::get_if<ModuleReply>(&r)) return std::move(*reply);
      Lost& l = std::get<Lost>(r);
      close_all();
      if (attempt == 0 && retry_worth(l)) {
        log_retry(l);
        continue;
      }
      return ModuleReply::temporary(unreachable_text(l, attempt > 0));
    }
  }

  std::string bound_as() const {
    const LdapSettings& s = settings_;
    return s.init_bind ? s.bind_dn : std::string("anonymous (LDAP_INITBIND 0)");
  }

  // ---- operations

  Step<Done> open_main() { return main_.open(settings_, true); }

  // Searches base for filter, asking for at most size_limit entries (0: the
  // server's limit). more is set when the server had more than it sent.
  struct Found {
    std::vector<ReadEntry> entries;
    bool more = false;
  };
  Step<Found> search(const std::string& base, const std::string& filter, const std::vector<std::string>& attributes,
                     int size_limit) {
    const LdapSettings& s = settings_;
    if (auto opened = open_main(); !std::holds_alternative<Done>(opened)) return forward_step<Found>(std::move(opened));
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: searching %s under %s for %s as %s", s.uri.c_str(), base.c_str(),
                       filter.c_str(), bound_as().c_str());
    auto attrs = c_array(attributes);
    timeval tv{static_cast<time_t>(s.timeout.count()), 0};
    LDAPMessage* raw = nullptr;
    const bool reused = main_.used();
    int rc = ::ldap_search_ext_s(main_.get(), base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attrs.data(), 0,
                                 nullptr, nullptr, &tv, size_limit, &raw);
    LdapMessagePtr res(raw);
    main_.mark_used();
    if (connection_failed(rc)) return lost(main_.get(), "ldap_search_ext_s", rc, reused);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
      std::string text = ldap_text(main_.get(), "ldap_search_ext_s", rc);
      if (rc == LDAP_NO_SUCH_OBJECT)
        return ModuleReply::temporary("the search base " + base + " does not exist on " + s.uri + " (" + text +
                                      "); fix " + s.ref("LDAP_BASEDN"));
      return ModuleReply::temporary("searching " + s.uri + " under " + base + " for " + filter + " as " + bound_as() +
                                    " failed: " + text);
    }
    Found found;
    found.more = rc == LDAP_SIZELIMIT_EXCEEDED;
    for (LDAPMessage* e = ::ldap_first_entry(main_.get(), res.get()); e; e = ::ldap_next_entry(main_.get(), e))
      found.entries.push_back(read_entry(main_.get(), e, attributes));
    return found;
  }

  template <class T, class U>
  static Step<T> forward_step(Step<U>&& step) {
    if (auto* r = std::get_if<ModuleReply>(&step)) return std::move(*r);
    return std::get<Lost>(std::move(step));
  }

  // The one entry a search must find; rejects none ("no such account") and
  // several ("ambiguous").
  Step<LdapEntry> search_one(const std::string& base, const std::string& filter,
                             const std::vector<std::string>& attributes, std::string_view login) {
    auto searched = search(base, filter, attributes, 2);
    auto* found = std::get_if<Found>(&searched);
    if (!found) return forward_step<LdapEntry>(std::move(searched));
    if (found->entries.empty() && !found->more)
      return ModuleReply::reject("no such account: no entry under " + base + " matches " + filter + " (searched " +
                                 settings_.uri + " as " + bound_as() + ")");
    if (found->entries.size() > 1 || found->more) {
      std::string dns;
      for (const ReadEntry& e : found->entries) dns += (dns.empty() ? "" : ", ") + e.entry.dn;
      return ModuleReply::reject("the directory is ambiguous for " + std::string(login) +
                                 ": more than one entry under " + base + " matches " + filter + " (" + dns +
                                 "); make the values of " + settings_.ref("LDAP_MAIL") + " unique or narrow " +
                                 settings_.ref("LDAP_FILTER"));
    }
    ReadEntry& only = found->entries.front();
    if (!only.problem.empty()) return ModuleReply::reject(only.problem);
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: found %s", only.entry.dn.c_str());
    return std::move(only.entry);
  }

  // The entry of a login name: through LDAP_EMAILMAP when it is set and the
  // name has a realm, else by LDAP_MAIL.
  Step<LdapEntry> find_entry(std::string_view login) {
    const LdapSettings& s = settings_;
    if (auto problem = login_problem(login)) return ModuleReply::reject(*problem);
    size_t at = login.find('@');
    if (!s.emailmap.empty() && at != std::string_view::npos) {
      std::string map_filter = ldap_emailmap_filter(s, login.substr(0, at), login.substr(at + 1));
      auto mapped = search_one(s.emailmap_base_dn, map_filter, {s.emailmap_attribute}, login);
      auto* map_entry = std::get_if<LdapEntry>(&mapped);
      if (!map_entry) return mapped;
      const std::vector<std::string>* handle = map_entry->values(s.emailmap_attribute);
      if (!handle || handle->empty() || (*handle)[0].empty())
        return ModuleReply::reject("entry " + map_entry->dn + " found by LDAP_EMAILMAP has no " + s.emailmap_attribute +
                                   " attribute (" + s.ref("LDAP_EMAILMAP_ATTRIBUTE") + ")");
      if (has_control((*handle)[0]))
        return ModuleReply::reject("the " + s.emailmap_attribute + " of " + map_entry->dn +
                                   " holds a control character");
      std::string filter = and_filter(
          s.filter, item_filter(s.emailmap_mail_attribute, ldap_escape_filter_value((*handle)[0])));
      return search_one(s.base_dn, filter, lookup_attributes(s, false), login);
    }
    return search_one(s.base_dn, ldap_login_filter(s, login), lookup_attributes(s, false), login);
  }

  // LDAP_AUTHBIND: binds as dn with password on the second connection.
  Step<Done> bind_as_user(const std::string& dn, const lib::Secret& password) {
    const LdapSettings& s = settings_;
    // RFC 4513 5.1.2: a name with an empty password is an unauthenticated
    // bind, which many servers let through. Never send one.
    if (password.empty()) return ModuleReply::reject("empty password");
    if (auto opened = bind_.open(s, false); !std::holds_alternative<Done>(opened)) return opened;
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: binding as %s to check the password", dn.c_str());
    berval cred = secret_berval(password);
    const bool reused = bind_.used();
    int rc = ::ldap_sasl_bind_s(bind_.get(), dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
    bind_.mark_used();
    if (rc == LDAP_SUCCESS) {
      // LDAPv2 allows no second bind on a connection.
      if (s.protocol_version == 2) bind_.close();
      return Done{};
    }
    if (connection_failed(rc)) return lost(bind_.get(), "ldap_sasl_bind_s", rc, reused);
    std::string text = ldap_text(bind_.get(), "ldap_sasl_bind_s", rc);
    if (s.protocol_version == 2) bind_.close();
    switch (rc) {
      case LDAP_INVALID_CREDENTIALS:
        return ModuleReply::reject("wrong password (the bind as " + dn + " was refused: " + text + ")");
      case LDAP_INAPPROPRIATE_AUTH:
      case LDAP_UNWILLING_TO_PERFORM:
      case LDAP_CONSTRAINT_VIOLATION:
      case LDAP_INSUFFICIENT_ACCESS:
      case LDAP_NO_SUCH_OBJECT:
        // Locked or disabled accounts, password policy: the account's state.
        return ModuleReply::reject("the directory refused the bind as " + dn + ": " + text);
      default:
        return ModuleReply::temporary("binding as " + dn + " on " + s.uri + " failed: " + text);
    }
  }

  // Without LDAP_AUTHBIND: the password against LDAP_CLEARPW, else against
  // every value of LDAP_CRYPTPW (a directory may keep several hashes).
  ModuleReply check_password(const LdapEntry& entry, Account account, const lib::Secret& password) {
    const LdapSettings& s = settings_;
    if (!account.clear_password.empty()) {
      if (verify_clear(password, account.clear_password.reveal())) return ModuleReply::found(std::move(account));
      return ModuleReply::reject("wrong password");
    }
    const std::vector<std::string>* hashes =
        s.crypt_password_attribute.empty() ? nullptr : entry.values(s.crypt_password_attribute);
    if (!hashes || hashes->empty())
      return ModuleReply::reject("entry " + entry.dn + " has no password that " + bound_as() + " may read (" +
                                 (s.clear_password_attribute.empty() ? std::string("LDAP_CLEARPW not set")
                                                                     : s.ref("LDAP_CLEARPW")) +
                                 ", " +
                                 (s.crypt_password_attribute.empty() ? std::string("LDAP_CRYPTPW not set")
                                                                     : s.ref("LDAP_CRYPTPW")) +
                                 "); check the attributes and the server's access rules, or set LDAP_AUTHBIND 1");
    std::string problems;
    for (const std::string& h : *hashes) {
      auto verdict = authlib::check_password(password, h);
      if (verdict == Verdict::match) return ModuleReply::found(std::move(account));
      if (verdict == Verdict::unusable) problems = describe_hash_problem(h);
    }
    if (!problems.empty() && hashes->size() == 1) {
      lib::log::warning("authldap: the %s of %s can never match: %s", s.crypt_password_attribute.c_str(),
                        entry.dn.c_str(), problems.c_str());
      return ModuleReply::reject("wrong password (the stored " + s.crypt_password_attribute + " of " + entry.dn +
                                 " can never match: " + problems + ")");
    }
    return ModuleReply::reject("wrong password");
  }

  std::variant<Done, ModuleReply, Lost> enumerate_once(const std::function<void(const Account&)>& fn,
                                                       size_t& emitted) {
    const LdapSettings& s = settings_;
    if (auto opened = open_main(); !std::holds_alternative<Done>(opened)) return opened;
    const std::vector<std::string> attributes = lookup_attributes(s, true);
    auto attrs = c_array(attributes);
    timeval tv{static_cast<time_t>(s.timeout.count()), 0};
    lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: enumerating %s under %s with %s", s.uri.c_str(),
                       s.base_dn.c_str(), s.enumerate_filter.c_str());
    std::string cookie;
    for (;;) {
      LDAP* ld = main_.get();
      berval cookie_bv{static_cast<ber_len_t>(cookie.size()), cookie.data()};
      LDAPControl* page_raw = nullptr;
      int rc = ::ldap_create_page_control(ld, ldap_enumerate_page_size, cookie.empty() ? nullptr : &cookie_bv, 0,
                                          &page_raw);
      LdapControlPtr page(page_raw);
      if (rc != LDAP_SUCCESS) return ModuleReply::temporary(ldap_text(ld, "ldap_create_page_control", rc));
      LDAPControl* server_controls[] = {page.get(), nullptr};
      LDAPMessage* raw = nullptr;
      const bool reused = main_.used();
      rc = ::ldap_search_ext_s(ld, s.base_dn.c_str(), LDAP_SCOPE_SUBTREE, s.enumerate_filter.c_str(), attrs.data(), 0,
                               server_controls, nullptr, &tv, 0, &raw);
      LdapMessagePtr res(raw);
      main_.mark_used();
      if (connection_failed(rc)) return lost(ld, "ldap_search_ext_s", rc, reused);
      if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED)
        return ModuleReply::temporary("enumerating " + s.uri + " under " + s.base_dn + " with " + s.enumerate_filter +
                                      " failed: " + ldap_text(ld, "ldap_search_ext_s", rc) + "; check " +
                                      s.ref("LDAP_ENUMERATE_FILTER") + " and " + s.ref("LDAP_BASEDN"));
      for (LDAPMessage* e = ::ldap_first_entry(ld, res.get()); e; e = ::ldap_next_entry(ld, e)) {
        ReadEntry read = read_entry(ld, e, attributes);
        if (!read.problem.empty()) {
          lib::log::warning("authldap: enumerate skips an entry: %s", read.problem.c_str());
          continue;
        }
        const std::vector<std::string>* names = read.entry.values(s.mail_attribute);
        if (!names || names->empty()) continue;
        ModuleReply r = ldap_entry_to_account(s, read.entry, (*names)[0], "");
        if (r.outcome != Outcome::ok) {
          lib::log::debug_if("DEBUG_LOGIN", 1, "authldap: enumerate skips %s: %s", read.entry.dn.c_str(),
                             r.reason.c_str());
          continue;
        }
        for (const std::string& n : *names) {
          if (n.empty() || has_control(n)) continue;
          if (emitted >= ldap_max_enumerate_names)
            return ModuleReply::reject("enumeration stopped after " + std::to_string(emitted) +
                                       " names, the limit; narrow " + s.ref("LDAP_ENUMERATE_FILTER"));
          r.account.address = n;
          fn(r.account);
          ++emitted;
        }
      }
      if (rc == LDAP_SIZELIMIT_EXCEEDED)
        return ModuleReply::reject("enumeration stopped after " + std::to_string(emitted) + " names: " + s.uri +
                                   " has a size limit for " + bound_as() +
                                   " and does not page results (RFC 2696); raise the limit for that DN");
      // The next page, if the server paged (RFC 2696 section 3: an empty
      // cookie ends the search).
      LDAPControl** returned_raw = nullptr;
      int err = LDAP_SUCCESS;
      rc = ::ldap_parse_result(ld, res.get(), &err, nullptr, nullptr, nullptr, &returned_raw, 0);
      LdapControlArray returned(returned_raw);
      if (rc != LDAP_SUCCESS) return ModuleReply::temporary(ldap_text(ld, "ldap_parse_result", rc));
      LDAPControl* paged = returned ? ::ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, returned.get(), nullptr) : nullptr;
      if (!paged) return Done{};
      ber_int_t estimate = 0;
      berval next{0, nullptr};
      rc = ::ldap_parse_pageresponse_control(ld, paged, &estimate, &next);
      if (rc != LDAP_SUCCESS) return ModuleReply::temporary(ldap_text(ld, "ldap_parse_pageresponse_control", rc));
      cookie.assign(next.bv_val ? next.bv_val : "", next.bv_len);
      ::ber_memfree(next.bv_val);
      if (cookie.empty()) return Done{};
    }
  }

  // ---- configuration changes

  // Courier reads authldaprc again when it changes; so do we, before each
  // request. A broken new file is reported and the old settings stay.
  void reload_if_changed() {
    const std::string& path = settings_.path;
    auto now = stamp_of(path);
    if (!now || (stamp_ && *now == *stamp_)) return;
    stamp_ = now;
    auto fresh = load_settings(path);
    if (!fresh) {
      lib::log::error("authldap: %s changed, but cannot be used: %s; keeping the previous settings",
                      path.c_str(), fresh.error().message.c_str());
      return;
    }
    for (const std::string& w : fresh->warnings) lib::log::warning("authldap: %s", w.c_str());
    settings_ = std::move(fresh.value());
    close_all();
    lib::log::info("authldap: read %s again after a change", path.c_str());
  }

  LdapSettings settings_;
  std::optional<FileStamp> stamp_;
  LdapConnection main_;  // searches, as LDAP_BINDDN (LDAP_INITBIND) or anonymous
  LdapConnection bind_;  // LDAP_AUTHBIND: binds as the users
};

}  // namespace

lib::Result<std::unique_ptr<Module>> make_ldap_module(const ModuleContext& context) {
  std::string path = context.authdaemonrc.get_string("AUTHLDAPRC", context.sysconfdir + "/authldaprc");
  auto stamp = stamp_of(path);
  auto settings = load_settings(path);
  if (!settings) return settings.error();
  for (const std::string& w : settings->warnings) lib::log::warning("authldap: %s", w.c_str());
  struct stat st {};
  if (!settings->bind_password.empty() && ::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
    lib::log::warning("authldap: %s holds LDAP_BINDPW and anyone may read it: chmod 600 %s", path.c_str(),
                      path.c_str());
  return std::unique_ptr<Module>(std::make_unique<LdapModule>(std::move(settings.value()), stamp));
}

}  // namespace authlib
