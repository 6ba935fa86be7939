// maildrop/filter_ast.hpp: the syntax tree of the maildrop filter language
// (maildropfilter(5)), as filter_parser.cpp builds it and interpreter.cpp runs it.
// Every node records the line it starts on, so a runtime error names file:line.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace maildrop {

// A piece of a string with variable substitution: literal text or $NAME/${NAME}.
struct StrPart {
  bool is_var = false;
  std::string text;  // literal text, or the variable name
};
using Interpolated = std::vector<StrPart>;

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// /pattern/:flags[,weight1,weight2]
struct Pattern {
  Interpolated source;      // ${NAME} expanded at run time; a bare '$' is a regex anchor
  bool headers = true;      // h (default when neither h nor b is given)
  bool body = false;        // b
  bool case_sensitive = false;  // D
  bool whole_word = false;  // w
  bool weighted = false;
  double weight1 = 1, weight2 = 1;
};

enum class ExprKind {
  literal,     // text (numbers too)
  string,      // "..." or a bare word: parts
  command,     // `...`: parts, run through the shell
  variable,    // $NAME: text
  pattern,     // /.../: pattern (against the message)
  match,       // lhs =~ pattern
  unary,       // op: "!" or "-"
  binary,      // op: "||" "&&" "<" "<=" ">" ">=" "==" "!=" "lt" "le" "gt" "ge" "eq" "ne" "+" "-" "*" "/"
  call,        // text(args)
};

struct Expr {
  ExprKind kind = ExprKind::literal;
  int line = 0;
  std::string text;  // literal value, variable or function name, operator
  Interpolated parts;
  std::optional<Pattern> pattern;
  std::vector<ExprPtr> args;  // operands / arguments
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Block = std::vector<StmtPtr>;

enum class StmtKind {
  assign,     // name = expr
  expr,       // an expression on its own (e.g. `command`)
  to,         // to expr
  cc,         // cc expr
  xfilter,    // xfilter expr
  system,     // system expr
  exit,       // exit
  log,        // log expr
  logfile,    // logfile expr
  echo,       // echo expr
  import,     // import NAME
  include,    // include expr
  exception,  // exception { block }
  if_,        // if (cond) {block} elsif (cond) {block} ... else {block}: conds/blocks, else_block
  while_,     // while (cond) {block}
  foreach,    // foreach /pattern/ {block}  or  foreach (expr) =~ /pattern/ {block}
  dotlock,    // dotlock expr {block}
  flock,      // flock expr {block}
};

struct Stmt {
  StmtKind kind = StmtKind::expr;
  int line = 0;
  std::string name;               // assign, import
  ExprPtr value;                  // the operand (or the foreach subject/pattern)
  std::vector<ExprPtr> conds;     // if/elsif conditions, while condition
  std::vector<Block> blocks;      // one per cond (if/while), or the body (others)
  std::optional<Block> else_block;
};

// A parsed filter file.
struct Program {
  std::string file;  // for error messages
  Block body;
};

}  // namespace maildrop
