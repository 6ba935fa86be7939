// authlib/module_userdb.cpp: authuserdb. See module_userdb.hpp.
//
// SECURITY: reads userdbshadow.dat (password hashes; makeuserdb writes it
// root:MAILGROUP mode 0640, or 0600 when not run by root), so authdaemond's
// workers run as the mail user when both files are readable to it, else as
// root (authlib/daemon.cpp, why_workers_keep_root). Reasons never contain a
// password or a stored hash.
#include "authlib/module_userdb.hpp"

#include <cerrno>
#include <dirent.h>
#include <optional>
#include <sys/stat.h>
#include <variant>

#include "authlib/password.hpp"
#include "authlib/sasl.hpp"
#include "authlib/userdb_source.hpp"
#include "authlib/verified_cache.hpp"
#include "lib/c_handle.hpp"
#include "lib/dbfile.hpp"
#include "lib/log.hpp"

namespace authlib {
namespace {

using userdb::Fields;
using userdb::find_field;

constexpr int lock_timeout_ms = 2000;
// Entries of a userdb directory looked at when telling whether the source
// changed after the database was built (on "no such account" only).
constexpr int max_stale_entries = 256;

bool is_control(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

bool has_control(std::string_view s) noexcept {
  for (unsigned char c : s)
    if (is_control(c)) return true;
  return false;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool later(const struct timespec& a, const struct timespec& b) noexcept {
  return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

std::optional<unsigned long> parse_id(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  unsigned long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v >= 4294967295ULL) return std::nullopt;
  return static_cast<unsigned long>(v);
}

// The services whose "<service>pw" fields apply, most specific first: the
// service itself, then its plain name when it is the TLS port's name.
std::vector<std::string> service_names(std::string_view service) {
  std::vector<std::string> out;
  // A service name only ever selects fields; anything odd selects none.
  if (service.empty() || service.size() > 64 || has_control(service) ||
      service.find_first_of("|=") != std::string_view::npos)
    return out;
  out.emplace_back(service);
  static constexpr std::pair<std::string_view, std::string_view> tls_aliases[] = {
      {"imaps", "imap"}, {"pop3s", "pop3"}, {"smtps", "esmtp"}, {"esmtps", "esmtp"}};
  for (const auto& [tls, plain] : tls_aliases)
    if (service == tls) out.emplace_back(plain);
  return out;
}

struct Chosen {
  std::string field;
  std::string value;
};

std::optional<Chosen> first_present(const Fields& fields, const std::vector<std::string>& names) {
  for (const std::string& name : names)
    if (auto v = find_field(fields, name)) return Chosen{name, std::string(*v)};
  return std::nullopt;
}

// Field names a login for service checks, in order.
std::vector<std::string> login_fields(std::string_view service) {
  std::vector<std::string> out;
  for (const std::string& s : service_names(service)) out.push_back(s + "pw");
  out.emplace_back("systempw");
  return out;
}

// Field names CRAM with hash checks for service, in order.
std::vector<std::string> cram_fields(std::string_view service, sasl::CramHash hash) {
  const std::string suffix = "hmac-" + std::string(sasl::cram_hash_name(hash)) + "pw";
  std::vector<std::string> out;
  for (const std::string& s : service_names(service)) out.push_back(s + "-" + suffix);
  out.push_back(suffix);
  return out;
}

// Whether stored is in the precomputed form userdbpw -hmac-* prints.
bool precomputed_form(sasl::CramHash hash, std::string_view stored) {
  if (stored.size() != 4 * sasl::cram_digest_bytes(hash)) return false;
  for (char c : stored)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

class UserdbModule final : public Module {
 public:
  UserdbModule(userdb::Paths paths, std::string default_options)
      : paths_(std::move(paths)), default_options_(std::move(default_options)) {}

  std::string_view name() const override { return "authuserdb"; }

  ModuleReply lookup(std::string_view user, std::string_view) override {
    auto found = find(user);
    if (auto* reply = std::get_if<ModuleReply>(&found)) return std::move(*reply);
    return make_account(std::get<Found>(found));
  }

  ModuleReply authenticate(const AuthRequest& request) override {
    auto found = find(request.user);
    if (auto* reply = std::get_if<ModuleReply>(&found)) return std::move(*reply);
    const Found& record = std::get<Found>(found);
    ModuleReply account = make_account(record);
    if (account.outcome != Outcome::ok) return account;

    Fields secrets;
    if (auto problem = secrets_of(record.key, secrets)) return std::move(*problem);
    if (request.cram) return check_cram(request, record.key, secrets, std::move(account));

    if (request.password.empty()) return ModuleReply::reject("empty password");
    auto chosen = first_present(secrets, login_fields(request.service));
    if (!chosen)
      return ModuleReply::reject("the account " + record.key + " has no systempw (nor " +
                                 login_fields(request.service).front() + ") in " + paths_.shadow_dat() +
                                 ": set one with: userdbpw | userdb " + source_ref(record) +
                                 " set systempw, then run makeuserdb");
    auto verdict = check_password_cached(record.key, request.password, chosen->value);
    if (verdict == Verdict::match) {
      lib::log::debug_if("DEBUG_LOGIN", 1, "authuserdb: %s: password accepted (%s)", record.key.c_str(),
                         chosen->field.c_str());
      return account;
    }
    if (verdict == Verdict::unusable)
      return ModuleReply::reject("the " + chosen->field + " field of " + record.key + " can never match: " +
                                 describe_hash_problem(chosen->value) + "; set a new one with: userdbpw | userdb " +
                                 source_ref(record) + " set " + chosen->field + ", then run makeuserdb");
    return ModuleReply::reject("wrong password (checked " + chosen->field + ")");
  }

  ModuleReply change_password(std::string_view service, std::string_view user, const lib::Secret& old_password,
                              const lib::Secret& new_password) override {
    if (new_password.empty()) return ModuleReply::reject("the new password is empty");
    if (new_password.size() > userdb::max_password_bytes || has_control(new_password.reveal()))
      return ModuleReply::reject("the new password is too long or contains control characters");
    auto found = find(user);
    if (auto* reply = std::get_if<ModuleReply>(&found)) return std::move(*reply);
    const Found& record = std::get<Found>(found);
    ModuleReply account = make_account(record);
    if (account.outcome != Outcome::ok) return account;
    Fields secrets;
    if (auto problem = secrets_of(record.key, secrets)) return std::move(*problem);

    auto chosen = first_present(secrets, login_fields(service));
    if (!chosen) return ModuleReply::reject("the account " + record.key + " has no password to change");
    if (!verify_password(old_password, chosen->value)) return ModuleReply::reject("wrong old password");

    auto hash = make_password_hash(new_password);
    if (!hash) return ModuleReply::temporary("cannot hash the new password: " + hash.error().message);
    Fields updates{{chosen->field, std::move(*hash)}};
    // CRAM secrets that held the old password get the new one, as Courier
    // does; one that held something else is left alone (and said so).
    for (sasl::CramHash h : {sasl::CramHash::md5, sasl::CramHash::sha1, sasl::CramHash::sha256}) {
      for (const std::string& field : cram_fields(service, h)) {
        auto stored = find_field(secrets, field);
        if (!stored) continue;
        auto old_pre = sasl::make_cram_precomputed(h, old_password);
        if (!old_pre || !lib::constant_time_equal(*old_pre, lower(*stored))) {
          lib::log::warning("authuserdb: %s: %s does not hold the old password; it was left unchanged",
                            record.key.c_str(), field.c_str());
          continue;
        }
        auto new_pre = sasl::make_cram_precomputed(h, new_password);
        if (!new_pre) return ModuleReply::temporary("cannot compute the new " + field + ": " + new_pre.error().message);
        updates.push_back({field, std::move(*new_pre)});
      }
    }
    if (auto r = rewrite_source(record, updates); !r)
      return ModuleReply::temporary("the password of " + record.key + " was not changed: " + r.error().message);
    lib::log::info("authuserdb: %s: password changed (%s)", record.key.c_str(), chosen->field.c_str());
    return account;
  }

  lib::Result<void> enumerate(const std::function<void(const Account&)>& fn) override {
    if (auto problem = refresh(dat_, paths_.dat())) {
      if (problem->outcome == Outcome::temporary) return lib::temporary_error(problem->reason);
      lib::log::warning("authuserdb: %s", problem->reason.c_str());
      return {};
    }
    return dat_->for_each([&](std::string_view key, std::string_view value) {
      if (userdb::is_reverse_key(key)) return true;
      Found record{std::string(key), userdb::split_fields(value)};
      ModuleReply account = make_account(record);
      if (account.outcome == Outcome::ok)
        fn(account.account);
      else
        lib::log::warning("authuserdb: not listed: %s", account.reason.c_str());
      return true;
    });
  }

 private:
  struct Found {
    std::string key;  // as stored: the login, or its lower-case form
    Fields fields;    // from userdb.dat
  };

  // An open database and what its file looked like just before it was opened.
  struct OpenDb {
    std::optional<lib::DbFile> db;
    dev_t dev = 0;
    ino_t ino = 0;
    struct timespec mtime {};
    off_t size = 0;
    lib::DbFile* operator->() { return &*db; }
  };

  // Opens db at path, or reopens it when makeuserdb replaced it (a new
  // inode) or someone overwrote it in place (cp over it: a new mtime or size;
  // Courier's userdb_init checks the mtime too). Returns a reply when it
  // cannot: rejected when the file does not exist (other modules may know
  // the account), temporary when it is unusable. If the file is replaced
  // between the stat and the open, the next request sees the difference and
  // opens it again.
  std::optional<ModuleReply> refresh(OpenDb& open, const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      int err = errno;
      open.db.reset();
      if (err == ENOENT)
        return ModuleReply::reject(path + " does not exist: run makeuserdb to build it from " + paths_.source);
      return ModuleReply::temporary("cannot read " + path + ": " + lib::errno_text(err) +
                                    "; authdaemond must be able to read it");
    }
    if (open.db && st.st_dev == open.dev && st.st_ino == open.ino && st.st_size == open.size &&
        st.st_mtim.tv_sec == open.mtime.tv_sec && st.st_mtim.tv_nsec == open.mtime.tv_nsec)
      return std::nullopt;
    const bool reopening = open.db.has_value();
    open.db.reset();
    auto opened = lib::DbFile::open_read(path, "makeuserdb");
    if (!opened) return ModuleReply::temporary(opened.error().message);
    open.db = std::move(*opened);
    open.dev = st.st_dev;
    open.ino = st.st_ino;
    open.mtime = st.st_mtim;
    open.size = st.st_size;
    if (reopening) lib::log::debug_if("DEBUG_LOGIN", 1, "authuserdb: reopened %s", path.c_str());
    return std::nullopt;
  }

  // The userdb.dat record of user (as typed, else in lower case).
  std::variant<Found, ModuleReply> find(std::string_view user) {
    if (user.empty()) return ModuleReply::reject("empty user name");
    if (user.size() > userdb::max_address_bytes || has_control(user) || userdb::is_reverse_key(user))
      return ModuleReply::reject("no such account (the name is not a userdb address)");
    if (auto problem = refresh(dat_, paths_.dat())) {
      if (problem->outcome == Outcome::rejected) problem->reason = "no such account: " + problem->reason;
      return std::move(*problem);
    }
    std::string key(user);
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto value = dat_->lookup(key);
      if (!value) return ModuleReply::temporary(value.error().message);
      if (*value) {
        lib::log::debug_if("DEBUG_LOGIN", 1, "authuserdb: found %s in %s", key.c_str(), paths_.dat().c_str());
        return Found{std::move(key), userdb::split_fields(**value)};
      }
      std::string folded = lower(key);
      if (folded == key) break;
      key = std::move(folded);
    }
    return ModuleReply::reject("no such account in " + paths_.dat() + stale_note());
  }

  // The account of a userdb.dat record; rejected, naming the field and the
  // fix, when home/uid/gid are missing or malformed.
  ModuleReply make_account(const Found& record) const {
    auto home = find_field(record.fields, "home");
    auto uid = find_field(record.fields, "uid");
    auto gid = find_field(record.fields, "gid");
    const char* missing = !uid ? "uid" : !gid ? "gid" : !home ? "home" : nullptr;
    if (missing)
      return ModuleReply::reject("the account " + record.key + " in " + paths_.dat() + " has no " + missing +
                                 "= field (home, uid and gid are required): userdb " + source_ref(record) +
                                 " set " + missing + "=..., then run makeuserdb");
    auto uid_n = parse_id(*uid);
    auto gid_n = parse_id(*gid);
    if (!uid_n || !gid_n)
      return ModuleReply::reject("the account " + record.key + " in " + paths_.dat() + " has a " +
                                 (!uid_n ? "uid" : "gid") + " that is not a number: fix it with userdb " +
                                 source_ref(record) + " set " + (!uid_n ? "uid" : "gid") + "=<n>, then run makeuserdb");
    if (home->empty() || home->front() != '/')
      return ModuleReply::reject("the account " + record.key + " in " + paths_.dat() +
                                 " has a home that is not an absolute path: userdb " + source_ref(record) +
                                 " set home=/path, then run makeuserdb");
    Account a;
    a.address = record.key;
    a.uid = static_cast<uid_t>(*uid_n);
    a.gid = static_cast<gid_t>(*gid_n);
    a.home = std::string(*home);
    if (auto v = find_field(record.fields, "mail")) a.maildir = std::string(*v);
    if (auto v = find_field(record.fields, "quota")) a.quota = std::string(*v);
    if (auto v = find_field(record.fields, "gecos")) a.fullname = std::string(*v);
    if (auto v = find_field(record.fields, "options")) a.options = std::string(*v);
    if (a.options.empty()) a.options = default_options_;
    return ModuleReply::found(std::move(a));
  }

  // The userdbshadow.dat fields of key into out, or a reply.
  std::optional<ModuleReply> secrets_of(const std::string& key, Fields& out) {
    if (auto problem = refresh(shadow_, paths_.shadow_dat())) return problem;
    auto value = shadow_->lookup(key);
    if (!value) return ModuleReply::temporary(value.error().message);
    if (!*value)
      return ModuleReply::reject("the account " + key + " has no password in " + paths_.shadow_dat() +
                                 ": set one with: userdbpw | userdb " + key + " set systempw, then run makeuserdb");
    out = userdb::split_fields(**value);
    std::fill(value->value().begin(), value->value().end(), '\0');
    return std::nullopt;
  }

  ModuleReply check_cram(const AuthRequest& request, const std::string& key, const Fields& secrets,
                         ModuleReply account) {
    const sasl::CramHash hash = request.cram->hash;
    const std::string mech = "CRAM-" + upper(sasl::cram_hash_name(hash));
    auto names = cram_fields(request.service, hash);
    auto chosen = first_present(secrets, names);
    if (!chosen)
      return ModuleReply::reject(mech + " needs a " + names.back() + " field for " + key + ": userdbpw -" +
                                 names.back().substr(0, names.back().size() - 2) + " | userdb " + key + " set " +
                                 names.back() + ", then run makeuserdb");
    if (!precomputed_form(hash, chosen->value))
      return ModuleReply::reject("the " + chosen->field + " field of " + key + " is not what userdbpw -" +
                                 names.back().substr(0, names.back().size() - 2) + " prints (" +
                                 std::to_string(4 * sasl::cram_digest_bytes(hash)) + " hex digits)");
    if (sasl::verify_cram_precomputed(*request.cram, chosen->value)) return account;
    return ModuleReply::reject("wrong " + mech + " response (checked " + chosen->field + ")");
  }

  // How the userdb tool names the record: "<location><key>".
  static std::string source_ref(const Found& record) {
    auto location = find_field(record.fields, "_");
    return (location ? std::string(*location) : std::string()) + record.key;
  }

  // "; note: <source> changed after userdb.dat was built: run makeuserdb",
  // or "" (also when that cannot be told).
  std::string stale_note() const {
    struct stat dat_st, st;
    if (::stat(paths_.dat().c_str(), &dat_st) != 0 || ::stat(paths_.source.c_str(), &st) != 0) return {};
    bool stale = later(st.st_mtim, dat_st.st_mtim);
    if (!stale && S_ISDIR(st.st_mode)) {
      // Edits by the userdb tool rename files into place, which touches
      // their directory; look at the top level and one level down.
      lib::DirStream dir(::opendir(paths_.source.c_str()));
      int seen = 0;
      while (dir && !stale && seen < max_stale_entries) {
        struct dirent* e = ::readdir(dir.get());
        if (!e) break;
        if (e->d_name[0] == '.') continue;
        ++seen;
        struct stat est;
        std::string path = paths_.source + "/" + e->d_name;
        if (::stat(path.c_str(), &est) == 0 && later(est.st_mtim, dat_st.st_mtim)) stale = true;
      }
    }
    if (!stale) return {};
    return "; note: " + paths_.source + " was changed after " + paths_.dat() +
           " was built: run makeuserdb to make the change take effect";
  }

  // Sets updates in record's source file and rebuilds both databases; the
  // file is replaced only once the whole source compiled.
  lib::Result<void> rewrite_source(const Found& record, const Fields& updates) {
    struct stat st;
    if (::stat(paths_.source.c_str(), &st) != 0)
      return lib::temporary_error("cannot find the userdb source " + paths_.source + ": " + lib::errno_text(errno));
    std::string location(find_field(record.fields, "_").value_or(""));
    std::string file;
    if (S_ISDIR(st.st_mode)) {
      while (!location.empty() && location.back() == '/') location.pop_back();
      if (location.empty() || location.find("..") != std::string::npos)
        return lib::temporary_error(paths_.dat() + " does not say which file of " + paths_.source +
                                    " holds the account: run makeuserdb");
      file = paths_.source + "/" + location;
    } else {
      if (!location.empty())
        return lib::temporary_error(paths_.dat() + " was built from a userdb directory, but " + paths_.source +
                                    " is a file now: run makeuserdb");
      file = paths_.source;
    }
    if (auto r = userdb::check_private(paths_.source); !r) return r;
    auto edit_lock = userdb::FileLock::acquire(userdb::edit_lock_path(file), lock_timeout_ms);
    if (!edit_lock) return edit_lock.error();
    auto source_file = userdb::SourceFile::load(file);
    if (!source_file) return source_file.error();
    if (!source_file->find(record.key))
      return lib::temporary_error(record.key + " is in " + paths_.dat() + " but not in " + file +
                                  " any more: run makeuserdb");
    if (auto r = source_file->set(record.key, updates); !r) return r;
    const std::string text = source_file->serialize();
    auto build_lock = userdb::FileLock::acquire(paths_.build_lock(), lock_timeout_ms);
    if (!build_lock) return build_lock.error();
    auto source = userdb::read_source(paths_.source, {{file, text}});
    if (!source) return lib::temporary_error("the userdb source does not compile: " + source.error().message);
    auto build = userdb::Build::prepare(paths_, *source);
    if (!build) return build.error();
    if (auto r = userdb::write_file_atomically(file, text); !r) return r;
    return build->commit();
  }

  userdb::Paths paths_;
  std::string default_options_;
  OpenDb dat_;
  OpenDb shadow_;
};

}  // namespace

lib::Result<std::unique_ptr<Module>> make_userdb_module(const ModuleContext& context) {
  const std::string source = context.authdaemonrc.get_string("USERDB", context.sysconfdir + "/userdb");
  if (source.empty() || source.front() != '/')
    return lib::permanent_error(context.authdaemonrc.where("USERDB") + ": USERDB=" + source +
                                " must be the absolute path of the userdb source (userdb.dat is that path "
                                "plus .dat), e.g. USERDB=/etc/courier/userdb");
  return std::unique_ptr<Module>(std::make_unique<UserdbModule>(
      userdb::paths_for(source), context.authdaemonrc.get_string("DEFAULTOPTIONS", "")));
}

}  // namespace authlib
