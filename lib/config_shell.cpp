// lib/config_shell.cpp: the shell-subset parser behind Config::parse and
// Config::load_file. It reads the files the start scripts also source with /bin/sh:
// NAME=value assignments with quoting (POSIX XCU 2.2), parameter expansion of
// $NAME, ${NAME}, ${NAME:-word} and friends (2.6.2), "export", comments, line
// continuations and ". file" / "source file" includes, and refuses or warns about
// the shell commands it does not run.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "lib/config.hpp"
#include "lib/config_internal.hpp"

namespace lib {

using namespace config_internal;

namespace {

const char* const shell_commands[] = {
    "unset", "if", "then", "else", "elif", "fi", "for", "while", "do", "done", "case",
    "esac", "set", "readonly", "local", "echo", "test", "[", "exec", "eval",
};

// The shell-subset parser. It walks the whole text (not line by line) because quoted
// values and continuations may span lines; line_ counts newlines consumed so far.
class ShellParser {
 public:
  ShellParser(std::string_view text, const std::string& origin, const Config* base,
              Config& out, int depth = 0)
      : t_(text), origin_(origin), base_(base), out_(out), depth_(depth) {}

  Result<void> run() {
    for (;;) {
      skip_blanks();
      if (eof()) return {};
      char c = t_[pos_];
      if (c == '\n') {
        ++pos_;
        ++line_;
      } else if (c == ';') {
        return err(line_, "';' without a setting before it");
      } else if (c == '#') {
        skip_comment();
      } else {
        auto r = statement();
        if (!r) return r;
      }
    }
  }

 private:
  static constexpr int max_nesting = 32;
  static constexpr int max_include_depth = 8;

  bool eof() const { return pos_ >= t_.size(); }
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < t_.size() ? t_[pos_ + ahead] : '\0';
  }
  Error err(int line, const std::string& what) const {
    return permanent_error(at(origin_, line) + ": " + what);
  }

  // Blanks and backslash-newline continuations between words.
  void skip_blanks() {
    while (!eof()) {
      if (is_blank(t_[pos_])) {
        ++pos_;
      } else if (t_[pos_] == '\\' && peek(1) == '\n') {
        pos_ += 2;
        ++line_;
      } else {
        break;
      }
    }
  }
  void skip_comment() {
    while (!eof() && t_[pos_] != '\n') ++pos_;
  }
  bool at_word_end() const {
    char c = peek();
    return eof() || is_blank(c) || c == '\n' || c == ';' || (c == '\\' && peek(1) == '\n');
  }
  bool at_statement_end() const {
    char c = peek();
    return eof() || c == '\n' || c == ';' || c == '#';
  }
  // The raw word at pos, for messages.
  std::string_view raw_word(size_t from) const {
    size_t end = from;
    while (end < t_.size() && !is_blank(t_[end]) && t_[end] != '\n' && t_[end] != ';') ++end;
    return t_.substr(from, end - from);
  }

  Result<void> statement() {
    for (std::string_view cmd : {std::string_view("."), std::string_view("source")}) {
      if (t_.substr(pos_, cmd.size()) == cmd) {
        pos_ += cmd.size();
        if (at_word_end()) return include(cmd);
        pos_ -= cmd.size();
      }
    }
    if (t_.substr(pos_, 6) == "export") {
      pos_ += 6;
      if (at_word_end()) {
        for (;;) {
          skip_blanks();
          if (at_statement_end()) {
            end_statement();
            return {};
          }
          auto r = assignment(true, "");
          if (!r) return r.error();
        }
      }
      pos_ -= 6;  // a name that merely starts with "export", e.g. exportdir=...
    }
    std::string previous;
    for (;;) {
      auto r = assignment(false, previous);
      if (!r) return r.error();
      previous = r.value();
      skip_blanks();
      if (at_statement_end()) {
        end_statement();
        return {};
      }
    }
  }

  // One ';' may end a statement; the shell refuses an empty one (";;" or a leading ";").
  void end_statement() {
    if (peek() == ';') ++pos_;
  }

  // ". FILE": reads FILE's settings with the same rules, as the shell would.
  Result<void> include(std::string_view cmd) {
    const int line = line_;
    skip_blanks();
    if (at_statement_end())
      return err(line, std::string(cmd) + " needs a file name: . /path/to/file");
    auto path = value(std::string(cmd));
    if (!path) return path.error();
    skip_blanks();
    if (!at_statement_end())
      return err(line, "'" + shown(raw_word(pos_)) + "': arguments to " + std::string(cmd) +
                           " are not supported");
    end_statement();
    const std::string& file = path.value();
    if (file.find('/') == std::string::npos)
      return err(line, std::string(cmd) + " " + shown(file) +
                           ": give the file's path with a / (the shell would search $PATH)");
    if (depth_ + 1 > max_include_depth)
      return err(line, std::string(cmd) + " " + shown(file) +
                           ": files sourced more than 8 deep (does a file source itself?)");
    int fd_errno = 0;
    auto text = read_small_file(file, config_max_file_bytes, &fd_errno);
    if (!text) {
      if (fd_errno == ENOENT) {
        out_.add_warning(at(origin_, line) + ": " + std::string(cmd) + " " + shown(file) +
                         ": no such file; skipped");
        return {};
      }
      return err(line, std::string(cmd) + " " + text.error().message);
    }
    std::string content = std::move(text.value());
    auto ok = check_text(content, file, config_max_line_bytes);
    if (ok) {
      if (strip_crlf(content))
        out_.add_warning(file + ": has DOS (CRLF) line endings; convert it with dos2unix");
      ShellParser sub(content, file, base_, out_, depth_ + 1);
      ok = sub.run();
    }
    // Name the sourcing line too: the admin may not know this file is read at all.
    if (!ok) return err(line, "in " + std::string(cmd) + " " + shown(file) + ": " + ok.error().message);
    return {};
  }

  // NAME=value (or, after export, a bare NAME). Returns the name that was set.
  Result<std::string> assignment(bool exported, const std::string& previous) {
    const size_t start = pos_;
    const int name_line = line_;
    while (!eof() && is_name_char(t_[pos_])) ++pos_;
    std::string name(t_.substr(start, pos_ - start));
    if (peek() == '=' && valid_setting_name(name)) {
      ++pos_;
      auto v = value(name);
      if (!v) return v.error();
      if (!out_.has(name) && out_.size() >= config_max_settings)
        return err(name_line, "more than " + std::to_string(config_max_settings) +
                                  " settings; is this the right file?");
      out_.set(name, v.value(), ConfigOrigin{origin_, name_line, depth_});
      return name;
    }
    if (exported && valid_setting_name(name) && at_word_end()) return name;
    return bad_statement(start, name_line, previous);
  }

  Error bad_statement(size_t start, int line, const std::string& previous) const {
    std::string_view word = raw_word(start);
    if (!previous.empty())
      return err(line, "unexpected '" + shown(word) + "' after the value of " + previous +
                           "; quote a value that contains spaces: " + previous + "=\"...\"");
    size_t eq = word.find('=');
    if (eq != std::string_view::npos) {
      std::string_view name = word.substr(0, eq);
      if (name.empty()) return err(line, "missing setting name before '='");
      if (invalid_utf8_at(name) != std::string_view::npos)
        return err(line, "setting name '" + shown(name) + "' is not valid UTF-8");
      return err(line, "illegal setting name '" + shown(name) +
                           "': a name is ASCII letters, digits and _, and does not start "
                           "with a digit");
    }
    if (invalid_utf8_at(word) != std::string_view::npos)
      return err(line, "'" + shown(word) + "' is not valid UTF-8; expected NAME=value");
    for (const char* cmd : shell_commands)
      if (word == cmd)
        return err(line, "'" + shown(word) +
                             "' is a shell command; only NAME=value settings are allowed here");
    // NAME = value, or NAME value
    size_t after = start + word.size();
    while (after < t_.size() && is_blank(t_[after])) ++after;
    if (after < t_.size() && t_[after] == '=')
      return err(line, "spaces around '=' are not allowed: write " + shown(word) + "=value");
    if (valid_setting_name(word))
      return err(line, "'" + shown(word) + "' has no value: write " + shown(word) +
                           "=value (this file uses NAME=value, not NAME value)");
    return err(line, "expected NAME=value, found '" + shown(word) + "'");
  }

  Result<void> grow_check(const std::string& v, const std::string& name, int line) const {
    if (v.size() > config_max_value_bytes)
      return err(line, "the value of " + name + " is longer than " +
                           std::to_string(config_max_value_bytes) + " bytes");
    return {};
  }

  // An unquoted word after NAME=, up to an unquoted blank, newline, ';' or the end.
  Result<std::string> value(const std::string& name) {
    const int line = line_;
    std::string v;
    while (!eof()) {
      char c = t_[pos_];
      if (is_blank(c) || c == '\n' || c == ';') break;
      switch (c) {
        case '\\':
          if (pos_ + 1 >= t_.size()) {
            v += '\\';  // a trailing backslash at the end of the file stays
            ++pos_;
          } else if (t_[pos_ + 1] == '\n') {
            pos_ += 2;
            ++line_;
          } else {
            v += t_[pos_ + 1];
            pos_ += 2;
          }
          break;
        case '\'': {
          auto r = single_quoted(v);
          if (!r) return r.error();
          break;
        }
        case '"': {
          auto r = double_quoted(v, name);
          if (!r) return r.error();
          break;
        }
        case '$': {
          auto r = expand(v, name, true, 0);
          if (!r) return r.error();
          break;
        }
        case '`':
          return err(line_, "command substitution `...` in " + name +
                                " is not supported; write the value itself");
        case '|':
        case '&':
        case '<':
        case '>':
        case '(':
        case ')':
          return err(line_, std::string("unquoted '") + c + "' in the value of " + name +
                                "; put the value in quotes: " + name + "=\"...\"");
        default:
          v += c;
          ++pos_;
      }
      auto g = grow_check(v, name, line);
      if (!g) return g.error();
    }
    return v;
  }

  Result<void> single_quoted(std::string& v) {
    const int open_line = line_;
    size_t close = t_.find('\'', pos_ + 1);
    if (close == std::string_view::npos)
      return err(open_line, "unbalanced single quote: the ' opened here is never closed");
    std::string_view body = t_.substr(pos_ + 1, close - pos_ - 1);
    line_ += static_cast<int>(std::count(body.begin(), body.end(), '\n'));
    v.append(body);
    pos_ = close + 1;
    return {};
  }

  Result<void> double_quoted(std::string& v, const std::string& name) {
    const int open_line = line_;
    ++pos_;
    for (;;) {
      if (eof())
        return err(open_line, "unbalanced double quote: the \" opened here is never closed");
      char c = t_[pos_];
      if (c == '"') {
        ++pos_;
        return {};
      }
      if (c == '\\') {
        char n = peek(1);
        if (n == '\n') {
          pos_ += 2;
          ++line_;
        } else if (n == '$' || n == '`' || n == '"' || n == '\\') {
          v += n;
          pos_ += 2;
        } else {
          v += '\\';  // XCU 2.2.3: other backslashes inside "..." are kept
          ++pos_;
        }
      } else if (c == '$') {
        auto r = expand(v, name, true, 0);
        if (!r) return r;
      } else if (c == '`') {
        return err(line_, "command substitution `...` in " + name +
                              " is not supported; write the value itself");
      } else {
        if (c == '\n') ++line_;
        v += c;
        ++pos_;
      }
      auto g = grow_check(v, name, open_line);
      if (!g) return g;
    }
  }

  // The value of a variable, or nullopt when unset anywhere.
  std::optional<std::string> lookup(const std::string& var) const {
    if (auto v = out_.get(var)) return v;
    if (base_)
      if (auto v = base_->get(var)) return v;
    if (const char* e = std::getenv(var.c_str())) return std::string(e);
    return std::nullopt;
  }

  void warn_unset(const std::string& var, int line) {
    if (warned_unset_.insert(var).second)
      out_.add_warning(at(origin_, line) + ": $" + var +
                       " is not set (not earlier in this file, nor in the environment); it "
                       "expands to nothing");
  }

  // At '$': $NAME, ${NAME}, ${NAME:-word} and friends. `live` is false inside a word
  // that will be discarded (no warnings for it).
  Result<void> expand(std::string& v, const std::string& name, bool live, int depth) {
    const int line = line_;
    char n = peek(1);
    if (is_name_start(n)) {
      size_t s = pos_ + 1;
      size_t e = s;
      while (e < t_.size() && is_name_char(t_[e])) ++e;
      std::string var(t_.substr(s, e - s));
      pos_ = e;
      if (auto val = lookup(var)) {
        v += *val;
      } else if (live) {
        warn_unset(var, line);
      }
      return {};
    }
    if (n == '{') return expand_braced(v, name, live, depth);
    if (n == '(')
      return err(line, "command substitution $(...) in " + name +
                           " is not supported; write the value itself");
    if ((n >= '0' && n <= '9') || (n != '\0' && std::strchr("@*#?$!-", n)))
      return err(line, std::string("shell parameter $") + n + " in " + name +
                           " is not supported; write \\$ for a literal dollar sign");
    v += '$';  // a lone $ is literal, as in sh
    ++pos_;
    return {};
  }

  Result<void> expand_braced(std::string& v, const std::string& name, bool live, int depth) {
    const int line = line_;
    if (depth >= max_nesting) return err(line, "${...} nested too deeply in " + name);
    pos_ += 2;
    size_t s = pos_;
    while (!eof() && is_name_char(t_[pos_])) ++pos_;
    std::string var(t_.substr(s, pos_ - s));
    if (eof()) return err(line, "unterminated ${ in the value of " + name + ": add the }");
    if (!valid_setting_name(var))
      return err(line, "bad substitution ${" + shown(raw_word(s)) + " in " + name +
                           ": only ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME:+word} and "
                           "${NAME+word} are supported");
    if (t_[pos_] == '}') {
      ++pos_;
      if (auto val = lookup(var)) {
        v += *val;
      } else if (live) {
        warn_unset(var, line);
      }
      return {};
    }
    size_t close = t_.find('}', pos_);
    if (close == std::string_view::npos || close > t_.find('\n', pos_))
      return err(line, "unterminated ${ in the value of " + name + ": add the }");
    bool colon = false;
    if (t_[pos_] == ':') {
      colon = true;
      ++pos_;
    }
    char op = peek();
    if (op != '-' && op != '+')
      return err(line, "unsupported expansion ${" + var + shown(raw_word(pos_ - colon)) +
                           " in " + name +
                           ": only ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME:+word} and "
                           "${NAME+word} are supported");
    ++pos_;
    auto val = lookup(var);
    bool set = val.has_value() && (!colon || !val->empty());
    bool use_word = (op == '-') ? !set : set;
    std::string word;
    for (;;) {
      if (eof()) return err(line, "unterminated ${ in the value of " + name + ": add the }");
      char c = t_[pos_];
      if (c == '}') {
        ++pos_;
        break;
      }
      if (c == '\\' && pos_ + 1 < t_.size()) {
        if (t_[pos_ + 1] == '\n') {
          ++line_;
        } else {
          word += t_[pos_ + 1];
        }
        pos_ += 2;
      } else if (c == '$') {
        auto r = expand(word, name, live && use_word, depth + 1);
        if (!r) return r;
      } else if (c == '\'' || c == '"' || c == '`') {
        return err(line_, "quotes inside ${...} in " + name +
                              " are not supported; quote the whole value instead");
      } else {
        if (c == '\n') ++line_;
        word += c;
        ++pos_;
      }
      if (word.size() > config_max_value_bytes)
        return err(line, "the value of " + name + " is longer than " +
                             std::to_string(config_max_value_bytes) + " bytes");
    }
    if (use_word) {
      v += word;
    } else if (op == '-') {
      v += *val;
    }
    return {};
  }

  std::string_view t_;
  const std::string& origin_;
  const Config* base_;
  Config& out_;
  int depth_;
  size_t pos_ = 0;
  int line_ = 1;
  std::set<std::string> warned_unset_;
};

}  // namespace

Result<void> config_internal::parse_shell(std::string_view text, const std::string& origin,
                                          const Config* base, Config& out) {
  ShellParser parser(text, origin, base, out);
  return parser.run();
}

}  // namespace lib
