// maildrop/interpreter.cpp: see interpreter.hpp; semantics in maildropfilter(5).
#include "maildrop/interpreter.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "lib/ascii.hpp"
#include "lib/config.hpp"
#include "lib/log.hpp"
#include "lib/rfc5322.hpp"
#include "lib/unique_fd.hpp"
#include "maildrop/filter_parser.hpp"

namespace maildrop {

std::string format_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

namespace {
std::optional<double> parse_number(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  if (b == e) return std::nullopt;
  std::string t = s.substr(b, e - b);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (*end) return std::nullopt;
  return v;
}
}  // namespace

double to_number(const std::string& s) { return parse_number(s).value_or(0); }

bool truthy(const std::string& s) {
  if (s.empty()) return false;
  auto n = parse_number(s);
  return n ? *n != 0 : true;
}

Interpreter::Interpreter(Message& message, DeliveryContext base) : message_(message), base_(std::move(base)) {
  vars_["SIZE"] = std::to_string(message_.size());
  vars_["LINES"] = std::to_string(message_.lines());
  vars_["EXITCODE"] = "0";
}

std::string Interpreter::var(const std::string& name) const {
  auto it = vars_.find(name);
  return it == vars_.end() ? std::string() : it->second;
}

void Interpreter::fail(int line, std::string msg, bool temporary) {
  throw FilterFailure{file_, line, std::move(msg), temporary};
}

std::vector<std::string> Interpreter::environment() const {
  std::vector<std::string> env;
  for (const auto& [k, v] : vars_) env.push_back(k + "=" + v);
  return env;
}

DeliveryContext Interpreter::delivery_context() const {
  DeliveryContext c = base_;
  c.env = environment();
  if (auto s = var("SENDMAIL"); !s.empty()) c.sendmail = s;
  if (auto t = parse_number(var("PROGRAMTIMEOUT")); t && *t > 0) c.program_timeout = std::chrono::seconds(static_cast<long>(*t));
  if (auto t = parse_number(var("LOCKTIMEOUT")); t && *t > 0) c.lock_timeout = std::chrono::seconds(static_cast<long>(*t));
  if (vars_.count("LOCKEXT")) c.lock_ext = var("LOCKEXT");
  c.flags = var("FLAGS");
  if (auto q = var("MAILDIRQUOTA"); !q.empty()) {
    auto spec = lib::maildir::parse_quota_spec(q);
    if (spec) c.quota = *spec;
    else lib::log::warning("MAILDIRQUOTA=%s ignored: %s", q.c_str(), spec.error().message.c_str());
  }
  return c;
}

std::string Interpreter::expand(const Interpolated& parts) const {
  std::string out;
  for (const auto& p : parts) out += p.is_var ? var(p.text) : p.text;
  return out;
}

std::variant<FilterOutcome, FilterFailure> Interpreter::run(const Program& program) {
  std::string saved = file_;
  file_ = program.file;
  try {
    exec_block(program.body);
  } catch (const Exit&) {
    file_ = saved;
    return FilterOutcome::exited;
  } catch (const Delivered&) {
    file_ = saved;
    return FilterOutcome::delivered;
  } catch (const FilterFailure& f) {
    file_ = saved;
    return f;
  }
  file_ = saved;
  return FilterOutcome::fell_through;
}

std::variant<FilterOutcome, FilterFailure> Interpreter::run_file(const std::string& path) {
  auto text = lib::read_small_file(path, max_filter_bytes);
  if (!text) return FilterFailure{path, 0, text.error().message, true};
  auto parsed = parse_filter(*text, path);
  if (auto* err = std::get_if<SyntaxError>(&parsed)) return FilterFailure{path, err->line, "syntax error: " + err->message, true};
  return run(std::get<Program>(parsed));
}

void Interpreter::exec_block(const Block& b) {
  for (const auto& s : b) exec(*s);
}

void Interpreter::write_log(const std::string& text) {
  log_lines_.push_back(text);
  std::string path = var("LOGFILE");
  if (path.empty()) {
    lib::log::info("%s", text.c_str());
    return;
  }
  lib::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) {
    lib::log::warning("logfile %s: %s", path.c_str(), lib::errno_text(errno).c_str());
    return;
  }
  std::string line = text + "\n";
  (void)!::write(fd.get(), line.data(), line.size());
}

void Interpreter::deliver(const std::string& target, bool cc, int line) {
  if (target.empty()) fail(line, std::string(cc ? "cc" : "to") + " with an empty mailbox name");
  auto r = deliver_to(message_, target, delivery_context());
  if (!r) fail(line, r.error().message, r.error().temporary());
  if (truthy(var("VERBOSE"))) lib::log::info("delivered to %s", r->c_str());
  if (!cc) throw Delivered{};
}

void Interpreter::exec(const Stmt& s) {
  switch (s.kind) {
    case StmtKind::assign:
      vars_[s.name] = eval(*s.value);
      return;
    case StmtKind::expr:
      eval(*s.value);
      return;
    case StmtKind::to:
      deliver(eval(*s.value), false, s.line);
      return;
    case StmtKind::cc:
      deliver(eval(*s.value), true, s.line);
      return;
    case StmtKind::xfilter: {
      std::string cmd = eval(*s.value);
      auto out = make_temp_file(message_.spool_dirs());
      if (!out) fail(s.line, out.error().message);
      if (auto r = message_.rewind(); !r) fail(s.line, r.error().message);
      auto st = run_program(cmd, delivery_context(), message_.fd(), out->get());
      if (!st) fail(s.line, st.error().message);
      if (!st->success()) fail(s.line, "xfilter \"" + cmd + "\" failed: " + st->describe() + "; the message is unchanged");
      if (::lseek(out->get(), 0, SEEK_SET) < 0) fail(s.line, "xfilter: " + lib::errno_text(errno));
      auto m = Message::spool(out->get(), "", {}, message_.spool_dirs(), false);
      if (!m) fail(s.line, m.error().message);
      message_ = std::move(*m);
      vars_["SIZE"] = std::to_string(message_.size());
      vars_["LINES"] = std::to_string(message_.lines());
      return;
    }
    case StmtKind::system: {
      std::string cmd = eval(*s.value);
      auto st = run_program(cmd, delivery_context(), -1, 2);
      if (!st) fail(s.line, st.error().message);
      vars_["RETURNCODE"] = std::to_string(st->exited ? st->code : 128 + st->signal);
      return;
    }
    case StmtKind::exit:
      throw Exit{};
    case StmtKind::log:
      write_log(eval(*s.value));
      return;
    case StmtKind::logfile:
      vars_["LOGFILE"] = eval(*s.value);
      return;
    case StmtKind::echo: {
      std::string text = eval(*s.value) + "\n";
      (void)!::write(1, text.data(), text.size());
      return;
    }
    case StmtKind::import: {
      auto it = import_env_.find(s.name);
      if (it != import_env_.end()) vars_[s.name] = it->second;
      else vars_.erase(s.name);
      return;
    }
    case StmtKind::include: {
      std::string path = eval(*s.value);
      if (include_depth_ >= max_include_depth) fail(s.line, "include nested more than " + std::to_string(max_include_depth) + " levels");
      ++include_depth_;
      auto r = run_file(path);
      --include_depth_;
      if (auto* f = std::get_if<FilterFailure>(&r)) throw *f;
      switch (std::get<FilterOutcome>(r)) {
        case FilterOutcome::exited: throw Exit{};
        case FilterOutcome::delivered: throw Delivered{};
        case FilterOutcome::fell_through: return;
      }
      return;
    }
    case StmtKind::exception: {
      std::string saved = file_;
      try {
        exec_block(s.blocks[0]);
      } catch (const FilterFailure& f) {
        file_ = saved;
        lib::log::notice("exception caught: %s", f.describe().c_str());
      }
      return;
    }
    case StmtKind::if_: {
      for (std::size_t i = 0; i < s.conds.size(); ++i)
        if (truthy(eval(*s.conds[i]))) {
          exec_block(s.blocks[i]);
          return;
        }
      if (s.else_block) exec_block(*s.else_block);
      return;
    }
    case StmtKind::while_:
      while (truthy(eval(*s.conds[0]))) {
        if (++iterations_ > max_loop_iterations)
          fail(s.line, "more than " + std::to_string(max_loop_iterations) + " loop iterations (an endless loop?)");
        exec_block(s.blocks[0]);
      }
      return;
    case StmtKind::foreach: {
      const Expr& e = *s.value;
      const Regex& re = regex_for(*e.pattern, s.line);
      // Each line is matched and its block run as it is read: a 50 MB body
      // is never collected in memory.
      auto each_match = [&](std::string_view text) {
        std::size_t pos = 0, end = 0;
        std::vector<std::string> groups;
        while (pos <= text.size() && re.search(text, pos, &groups, &end)) {
          if (++iterations_ > max_loop_iterations) fail(s.line, "foreach: too many matches");
          set_matches(groups);
          exec_block(s.blocks[0]);
          pos = end;
        }
      };
      if (e.kind == ExprKind::match) {
        each_match(eval(*e.args[0]));
        return;
      }
      if (e.pattern->headers) {
        const std::vector<std::string> headers = message_.headers();  // xfilter in the block may replace them
        for (const auto& h : headers) each_match(h);
      }
      if (e.pattern->body) {
        auto r = message_.for_each_body_line([&](std::string_view l) {
          each_match(std::string(l));
          return true;
        });
        if (!r) fail(s.line, r.error().message);
      }
      return;
    }
    case StmtKind::dotlock: {
      std::string path = eval(*s.value);
      auto lock = DotLock::acquire(path, delivery_context().lock_timeout);
      if (!lock) fail(s.line, lock.error().message);
      exec_block(s.blocks[0]);
      return;
    }
    case StmtKind::flock: {
      std::string path = eval(*s.value);
      lib::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
      if (!fd) fail(s.line, "flock " + path + ": " + lib::errno_text(errno));
      if (::flock(fd.get(), LOCK_EX) != 0) fail(s.line, "flock " + path + ": " + lib::errno_text(errno));
      exec_block(s.blocks[0]);
      return;
    }
  }
}

void Interpreter::set_matches(const std::vector<std::string>& groups) {
  for (std::size_t i = 0; i < groups.size(); ++i) vars_[i == 0 ? "MATCH" : "MATCH" + std::to_string(i)] = groups[i];
}

const Regex& Interpreter::regex_for(const Pattern& p, int line) {
  std::string src = expand(p.source);
  if (p.whole_word) src = "\\b(?:" + src + ")\\b";
  std::string key = std::string(p.case_sensitive ? "D" : "i") + src;
  auto it = regex_cache_.find(key);
  if (it != regex_cache_.end()) return it->second;
  auto r = Regex::compile(src, p.case_sensitive);
  if (!r) fail(line, r.error().message, true);
  return regex_cache_.emplace(key, std::move(*r)).first->second;
}

double Interpreter::eval_pattern(const Pattern& p, int line, const std::string* subject) {
  const Regex& re = regex_for(p, line);
  double score = 0, weight = p.weight1;
  bool matched = false;
  std::vector<std::string> groups;
  // Returns false to stop scanning (first match when not weighted).
  auto scan = [&](std::string_view text) {
    std::size_t pos = 0, end = 0;
    while (pos <= text.size() && re.search(text, pos, matched ? nullptr : &groups, &end)) {
      if (!matched) set_matches(groups);
      matched = true;
      if (!p.weighted) return false;
      score += weight;
      weight *= p.weight2;
      pos = end;
    }
    return true;
  };
  if (subject) {
    scan(*subject);
  } else {
    bool go = true;
    if (p.headers)
      for (const auto& h : message_.headers())
        if (!(go = scan(h))) break;
    if (go && p.body) {
      auto r = message_.for_each_body_line([&](std::string_view l) { return scan(l); });
      if (!r) fail(line, r.error().message);
    }
  }
  if (p.weighted) return score;
  return matched ? 1 : 0;
}

std::string Interpreter::run_backtick(const std::string& cmd, int line) {
  auto out = make_temp_file(message_.spool_dirs());
  if (!out) fail(line, out.error().message);
  if (auto r = message_.rewind(); !r) fail(line, r.error().message);
  auto st = run_program(cmd, delivery_context(), message_.fd(), out->get());
  if (!st) fail(line, st.error().message);
  vars_["RETURNCODE"] = std::to_string(st->exited ? st->code : 128 + st->signal);
  std::string text;
  char buf[65536];
  ssize_t n;
  off_t off = 0;
  while ((n = ::pread(out->get(), buf, sizeof buf, off)) > 0 && text.size() < max_command_output_bytes) {
    text.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  if (text.size() > max_command_output_bytes) text.resize(max_command_output_bytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string Interpreter::eval(const Expr& e) {
  switch (e.kind) {
    case ExprKind::literal:
      return e.text;
    case ExprKind::string:
      return expand(e.parts);
    case ExprKind::command:
      return run_backtick(expand(e.parts), e.line);
    case ExprKind::variable:
      return var(e.text);
    case ExprKind::pattern:
      return format_number(eval_pattern(*e.pattern, e.line, nullptr));
    case ExprKind::match: {
      std::string subject = eval(*e.args[0]);
      return format_number(eval_pattern(*e.pattern, e.line, &subject));
    }
    case ExprKind::unary: {
      std::string v = eval(*e.args[0]);
      if (e.text == "!") return truthy(v) ? "0" : "1";
      return format_number(-to_number(v));
    }
    case ExprKind::binary: {
      const std::string& op = e.text;
      if (op == "||") {
        std::string l = eval(*e.args[0]);
        return truthy(l) ? l : eval(*e.args[1]);
      }
      if (op == "&&") {
        std::string l = eval(*e.args[0]);
        return truthy(l) ? eval(*e.args[1]) : l;
      }
      std::string l = eval(*e.args[0]), r = eval(*e.args[1]);
      if (op == "lt") return l < r ? "1" : "0";
      if (op == "le") return l <= r ? "1" : "0";
      if (op == "gt") return l > r ? "1" : "0";
      if (op == "ge") return l >= r ? "1" : "0";
      if (op == "eq") return l == r ? "1" : "0";
      if (op == "ne") return l != r ? "1" : "0";
      double a = to_number(l), b = to_number(r);
      if (op == "<") return a < b ? "1" : "0";
      if (op == "<=") return a <= b ? "1" : "0";
      if (op == ">") return a > b ? "1" : "0";
      if (op == ">=") return a >= b ? "1" : "0";
      if (op == "==") return a == b ? "1" : "0";
      if (op == "!=") return a != b ? "1" : "0";
      if (op == "+") return format_number(a + b);
      if (op == "-") return format_number(a - b);
      if (op == "*") return format_number(a * b);
      if (op == "/") {
        if (b == 0) fail(e.line, "division by zero", false);
        return format_number(a / b);
      }
      fail(e.line, "unknown operator " + op, false);
    }
    case ExprKind::call:
      return call(e);
  }
  return {};
}

namespace {

std::vector<std::string> addresses_in(const std::string& text) {
  std::vector<std::string> out;
  auto list = lib::rfc5322::parse_address_list(text);
  for (const auto& a : list.addresses)
    if (a.kind == lib::rfc5322::Address::Kind::mailbox) out.push_back(a.addr_spec());
  return out;
}

}  // namespace

std::string Interpreter::call(const Expr& e) {
  const std::string& f = e.text;
  std::vector<std::string> a;
  for (const auto& arg : e.args) a.push_back(eval(*arg));
  auto need = [&](std::size_t lo, std::size_t hi) {
    if (a.size() < lo || a.size() > hi)
      fail(e.line, f + "() takes " + (lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi)) +
                       " arguments, not " + std::to_string(a.size()), false);
  };
  if (f == "length") {
    need(1, 1);
    return std::to_string(a[0].size());
  }
  if (f == "substr") {
    need(2, 3);
    long start = static_cast<long>(to_number(a[1]));
    if (start < 0) start = 0;
    if (static_cast<std::size_t>(start) >= a[0].size()) return "";
    std::size_t len = a.size() == 3 ? static_cast<std::size_t>(std::max(0.0, to_number(a[2]))) : std::string::npos;
    return a[0].substr(static_cast<std::size_t>(start), len);
  }
  if (f == "tolower") {
    need(1, 1);
    return lib::ascii::to_lower(a[0]);
  }
  if (f == "toupper") {
    need(1, 1);
    std::string s = a[0];
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
  if (f == "escape") {
    need(1, 1);
    std::string out;
    for (char c : a[0]) {
      if (std::string_view("|&;<>()$`\\\"' \t\n*?[#~=%{}!").find(c) != std::string_view::npos) out += '\\';
      out += c;
    }
    return out;
  }
  if (f == "getaddr") {
    need(1, 1);
    std::string out;
    for (const auto& addr : addresses_in(a[0])) out += addr + "\n";
    return out;
  }
  if (f == "hasaddr") {
    need(1, 1);
    std::string want = lib::ascii::to_lower(a[0]);
    for (const auto& h : message_.headers()) {
      auto colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string name = lib::ascii::to_lower(h.substr(0, colon));
      if (name != "to" && name != "cc" && name != "resent-to" && name != "resent-cc") continue;
      for (const auto& addr : addresses_in(h.substr(colon + 1)))
        if (lib::ascii::to_lower(addr) == want) return "1";
    }
    return "0";
  }
  if (f == "lookup") {
    need(2, 3);
    bool cs = a.size() == 3 && a[2].find('D') != std::string::npos;
    auto text = lib::read_small_file(a[1], 4 * 1024 * 1024);
    if (!text) fail(e.line, text.error().message);
    std::size_t pos = 0;
    int n = 0;
    while (pos < text->size()) {
      auto nl = text->find('\n', pos);
      std::string l = text->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? text->size() : nl + 1;
      ++n;
      while (!l.empty() && (l.back() == '\r' || l.back() == ' ' || l.back() == '\t')) l.pop_back();
      if (l.empty() || l[0] == '#') continue;
      auto re = Regex::compile(l, cs);
      if (!re) fail(e.line, a[1] + ":" + std::to_string(n) + ": " + re.error().message);
      if (re->search(a[0], 0, nullptr)) return "1";
    }
    return "0";
  }
  if (f == "time") {
    need(0, 0);
    return std::to_string(std::time(nullptr));
  }
  if (f == "gdbmopen") {
    need(1, 2);
    db_.reset();
    auto db = KeyValueDb::open(a[0], a.size() == 2 ? a[1] : "R");
    if (!db) {
      lib::log::warning("gdbmopen: %s", db.error().message.c_str());
      return "-1";
    }
    db_.emplace(std::move(*db));
    return "0";
  }
  if (f == "gdbmclose") {
    need(0, 0);
    db_.reset();
    return "0";
  }
  if (f == "gdbmfetch") {
    need(1, 3);
    if (!db_) fail(e.line, "gdbmfetch() without gdbmopen()", false);
    auto v = db_->fetch(a[0]);
    if (!v) fail(e.line, v.error().message);
    if (*v) return **v;
    return a.size() == 3 ? a[2] : "";
  }
  if (f == "gdbmstore") {
    need(2, 2);
    if (!db_) fail(e.line, "gdbmstore() without gdbmopen()", false);
    if (auto r = db_->store(a[0], a[1]); !r) fail(e.line, r.error().message);
    if (auto r = db_->sync(); !r) fail(e.line, r.error().message);
    return "0";
  }
  if (f == "isduplicate") {
    // isduplicate([days[, database]]): Message-ID seen in the last days?
    need(0, 2);
    double days = a.empty() ? 7 : to_number(a[0]);
    std::string path = a.size() == 2 ? a[1] : var("HOME") + "/.maildrop-duplicates.db";
    std::string id;
    for (const auto& h : message_.headers())
      if (h.size() > 11 && lib::ascii::to_lower(h.substr(0, 11)) == "message-id:") {
        id = h.substr(11);
        id.erase(0, id.find_first_not_of(" \t"));
        break;
      }
    if (id.empty()) return "0";  // nothing to compare
    auto seen = seen_before(path, id, static_cast<std::time_t>(days * 86400));
    if (!seen) fail(e.line, seen.error().message);
    return *seen ? "1" : "0";
  }
  fail(e.line, "unknown function " + f + "()", false);
}

}  // namespace maildrop
