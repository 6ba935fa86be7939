// maildrop/interpreter.hpp: runs a parsed filter (filter_ast.hpp) against the
// message: variables, expressions, patterns (PCRE2), deliveries, commands.
// Runs as the account; every program it starts gets only the filter's
// variables as its environment (see maildropfilter(5), ENVIRONMENT).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/result.hpp"
#include "maildrop/delivery.hpp"
#include "maildrop/filter_ast.hpp"
#include "maildrop/kvdb.hpp"
#include "maildrop/message.hpp"
#include "maildrop/regex.hpp"

namespace maildrop {

inline constexpr int max_include_depth = 20;
inline constexpr long max_loop_iterations = 1000000;
inline constexpr std::size_t max_command_output_bytes = 1024 * 1024;

// A runtime error in a filter: where, what, and whether retrying may help.
struct FilterFailure {
  std::string file;
  int line = 0;
  std::string message;
  bool temporary = true;
  std::string describe() const { return file + ":" + std::to_string(line) + ": " + message; }
};

enum class FilterOutcome {
  fell_through,  // the end of the filter: deliver to $DEFAULT
  delivered,     // a `to` delivered the message
  exited,        // `exit`: stop, EXITCODE is the exit code
};

class Interpreter {
 public:
  // message must outlive the interpreter (xfilter replaces its contents).
  Interpreter(Message& message, DeliveryContext base);

  std::map<std::string, std::string>& vars() { return vars_; }
  std::string var(const std::string& name) const;
  // The environment `import` reads from (maildrop's original environment).
  void set_import_environment(std::map<std::string, std::string> env) { import_env_ = std::move(env); }

  // Runs a filter. An error (syntax error of an included file, failed
  // delivery, bad pattern...) is returned as a FilterFailure.
  std::variant<FilterOutcome, FilterFailure> run(const Program& program);
  // Reads, parses and runs a file (a syntax error is a FilterFailure too).
  std::variant<FilterOutcome, FilterFailure> run_file(const std::string& path);

  // The context deliveries use now: base + the filter's variables.
  DeliveryContext delivery_context() const;
  // Lines written by `log` (also to LOGFILE when set).
  const std::vector<std::string>& log_lines() const { return log_lines_; }
  std::vector<std::string> environment() const;

 private:
  struct Exit {};
  struct Delivered {};

  void exec_block(const Block& b);
  void exec(const Stmt& s);
  std::string eval(const Expr& e);
  double eval_pattern(const Pattern& p, int line, const std::string* subject);
  const Regex& regex_for(const Pattern& p, int line);
  std::string expand(const Interpolated& parts) const;
  std::string call(const Expr& e);
  std::string run_backtick(const std::string& cmd, int line);
  void deliver(const std::string& target, bool cc, int line);
  void write_log(const std::string& text);
  [[noreturn]] void fail(int line, std::string msg, bool temporary = true);
  void set_matches(const std::vector<std::string>& groups);

  Message& message_;
  DeliveryContext base_;
  std::map<std::string, std::string> vars_;
  std::map<std::string, std::string> import_env_;
  std::map<std::string, Regex> regex_cache_;
  std::vector<std::string> log_lines_;
  std::optional<KeyValueDb> db_;
  std::string file_;
  int include_depth_ = 0;
  long iterations_ = 0;
};

// Numbers as the filter language prints them: integers without a decimal point.
std::string format_number(double v);
// A string's numeric value (0 when it is not a number).
double to_number(const std::string& s);
// False for "" and anything whose numeric value is 0 ("0", "0.0"); true otherwise.
bool truthy(const std::string& s);

}  // namespace maildrop
