// maildrop/filter_parser.cpp: see filter_parser.hpp; grammar in maildropfilter(5).
#include "maildrop/filter_parser.hpp"

#include <cctype>
#include <cstdlib>
#include <set>

namespace maildrop {
namespace {

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
// Characters a bare word may contain (anything else must be quoted).
bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' || c == ':' ||
         c == '@' || c == '%' || c == '~' || c == '$' || c == '-' || c == '+';
}
bool is_number(std::string_view s) {
  if (s.empty()) return false;
  bool dot = false, digit = false;
  for (char c : s) {
    if (c == '.') {
      if (dot) return false;
      dot = true;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else {
      return false;
    }
  }
  return digit;
}

const std::set<std::string, std::less<>> keywords = {
    "if", "elsif", "else", "while", "foreach", "to", "cc", "xfilter", "system", "exit", "log",
    "logfile", "echo", "import", "include", "exception", "dotlock", "flock"};

}  // namespace

std::variant<Interpolated, std::string> split_interpolation(std::string_view text, bool regex) {
  Interpolated out;
  std::string lit;
  auto flush = [&] {
    if (!lit.empty()) out.push_back({false, std::move(lit)});
    lit.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      char n = text[++i];
      if (regex) {
        lit += '\\';
        lit += n;
      } else if (n == 'n') {
        lit += '\n';
      } else if (n == 't') {
        lit += '\t';
      } else if (n == '\\' || n == '"' || n == '$' || n == '`' || n == '\'') {
        lit += n;
      } else {
        lit += '\\';
        lit += n;
      }
      continue;
    }
    if (c == '$' && i + 1 < text.size()) {
      if (text[i + 1] == '{') {
        auto close = text.find('}', i + 2);
        if (close == std::string_view::npos) return std::string("unterminated ${ in \"") + std::string(text) + "\"";
        std::string name(text.substr(i + 2, close - i - 2));
        bool digits = !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
        if (!digits) {
          if (name.empty() || !name_start(name[0])) return "bad variable name ${" + name + "}";
          for (char k : name)
            if (!name_char(k)) return "bad variable name ${" + name + "}";
        }
        flush();
        out.push_back({true, name});
        i = close;
        continue;
      }
      if (!regex && (name_start(text[i + 1]) || std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
        std::size_t j = i + 1;
        if (std::isdigit(static_cast<unsigned char>(text[j])))  // $1, $2...: arguments in manual mode
          while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        else
          while (j < text.size() && name_char(text[j])) ++j;
        flush();
        out.push_back({true, std::string(text.substr(i + 1, j - i - 1))});
        i = j - 1;
        continue;
      }
    }
    lit += c;
  }
  flush();
  return out;
}

void Lexer::skip_blanks() {
  while (pos_ < src_.size()) {
    char c = src_[pos_];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++pos_;
    } else if (c == '\\' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '\n') {
      pos_ += 2;  // a continued line
      ++line_;
    } else if (c == '#') {
      while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
    } else {
      break;
    }
  }
}

std::variant<Token, SyntaxError> Lexer::quoted(char quote, TokenKind kind, int line) {
  std::size_t start = ++pos_;
  while (pos_ < src_.size() && src_[pos_] != quote) {
    if (src_[pos_] == '\\' && quote != '\'' && pos_ + 1 < src_.size()) ++pos_;
    if (src_[pos_] == '\n') ++line_;
    ++pos_;
  }
  if (pos_ >= src_.size())
    return SyntaxError{line, std::string("unterminated ") + (quote == '"' ? "string \"" : quote == '\'' ? "string '" : "command `") +
                                 " (the closing " + quote + " is missing)"};
  std::string_view body = src_.substr(start, pos_ - start);
  ++pos_;
  Token t;
  t.kind = kind;
  t.line = line;
  t.text = std::string(body);
  if (kind != TokenKind::literal) {
    auto parts = split_interpolation(body, false);
    if (auto* err = std::get_if<std::string>(&parts)) return SyntaxError{line, *err};
    t.parts = std::move(std::get<Interpolated>(parts));
  }
  return t;
}

std::variant<Token, SyntaxError> Lexer::pattern(int line) {
  std::size_t start = ++pos_;
  while (pos_ < src_.size() && src_[pos_] != '/') {
    if (src_[pos_] == '\n') return SyntaxError{line, "unterminated pattern /" + std::string(src_.substr(start, pos_ - start)) + " (the closing / is missing)"};
    if (src_[pos_] == '\\' && pos_ + 1 < src_.size() && src_[pos_ + 1] != '\n') ++pos_;
    ++pos_;
  }
  if (pos_ >= src_.size()) return SyntaxError{line, "unterminated pattern (the closing / is missing)"};
  std::string_view body = src_.substr(start, pos_ - start);
  ++pos_;
  Token t;
  t.kind = TokenKind::pattern;
  t.line = line;
  auto parts = split_interpolation(body, true);
  if (auto* err = std::get_if<std::string>(&parts)) return SyntaxError{line, *err};
  t.pattern.source = std::move(std::get<Interpolated>(parts));
  if (pos_ < src_.size() && src_[pos_] == ':') {
    ++pos_;
    bool h = false, b = false;
    while (pos_ < src_.size() && std::isalpha(static_cast<unsigned char>(src_[pos_]))) {
      switch (src_[pos_]) {
        case 'h': case 'H': h = true; break;
        case 'b': b = true; break;
        case 'D': t.pattern.case_sensitive = true; break;
        case 'w': t.pattern.whole_word = true; break;
        default:
          return SyntaxError{line, std::string("unknown pattern flag '") + src_[pos_] + "' (use h, b, D or w)"};
      }
      ++pos_;
    }
    if (h || b) {
      t.pattern.headers = h;
      t.pattern.body = b;
    }
    if (pos_ < src_.size() && src_[pos_] == ',') {
      double w[2];
      for (double& wv : w) {
        if (pos_ >= src_.size() || src_[pos_] != ',') return SyntaxError{line, "weighted pattern needs two weights: /pattern/:flags,w1,w2"};
        ++pos_;
        std::size_t s = pos_;
        while (pos_ < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '.' || src_[pos_] == '-')) ++pos_;
        std::string num(src_.substr(s, pos_ - s));
        char* end = nullptr;
        wv = std::strtod(num.c_str(), &end);
        if (num.empty() || *end) return SyntaxError{line, "pattern weight '" + num + "' is not a number"};
      }
      t.pattern.weighted = true;
      t.pattern.weight1 = w[0];
      t.pattern.weight2 = w[1];
    }
  }
  return t;
}

std::variant<Token, SyntaxError> Lexer::next(LexMode mode) {
  skip_blanks();
  Token t;
  t.line = line_;
  if (pos_ >= src_.size()) return t;
  char c = src_[pos_];
  auto single = [&](TokenKind k) {
    ++pos_;
    t.kind = k;
    return t;
  };
  switch (c) {
    case '\n': ++pos_; ++line_; t.kind = TokenKind::newline; return t;
    case ';': return single(TokenKind::semicolon);
    case '{': return single(TokenKind::lbrace);
    case '}': return single(TokenKind::rbrace);
    case '(': return single(TokenKind::lparen);
    case ')': return single(TokenKind::rparen);
    case ',': return single(TokenKind::comma);
    case '"': return quoted('"', TokenKind::string, line_);
    case '\'': return quoted('\'', TokenKind::literal, line_);
    case '`': return quoted('`', TokenKind::command, line_);
    default: break;
  }
  if (c == '/' && mode == LexMode::operand) return pattern(line_);
  static constexpr std::string_view two[] = {"||", "&&", "<=", ">=", "==", "!=", "=~"};
  for (auto op : two)
    if (src_.substr(pos_, 2) == op) {
      pos_ += 2;
      t.kind = TokenKind::op;
      t.text = std::string(op);
      return t;
    }
  if (std::string_view("!<>=+-*/").find(c) != std::string_view::npos) {
    t.kind = TokenKind::op;
    t.text = std::string(1, c);
    ++pos_;
    return t;
  }
  if (word_char(c)) {
    std::size_t start = pos_;
    while (pos_ < src_.size()) {
      char k = src_[pos_];
      if (k == '$' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '{') {
        auto close = src_.find('}', pos_);
        if (close == std::string_view::npos) return SyntaxError{line_, "unterminated ${"};
        pos_ = close + 1;
        continue;
      }
      // '+' and '-' end a word that began with a name: "$A+1" is arithmetic.
      if ((k == '+' || k == '-') && pos_ > start) break;
      if (!word_char(k)) break;
      ++pos_;
    }
    std::string_view w = src_.substr(start, pos_ - start);
    t.text = std::string(w);
    if (is_number(w)) {
      t.kind = TokenKind::number;
      return t;
    }
    if (w.size() > 1 && w[0] == '$') {
      std::string_view rest = w.substr(1);
      bool plain = name_start(rest[0]);
      for (char k : rest) plain = plain && name_char(k);
      if (rest.find_first_not_of("0123456789") == std::string_view::npos) plain = true;  // $1
      if (plain) {
        t.kind = TokenKind::variable;
        t.text = std::string(rest);
        return t;
      }
      if (rest.size() > 2 && rest.front() == '{' && rest.back() == '}' && rest.find('}') == rest.size() - 1) {
        t.kind = TokenKind::variable;
        t.text = std::string(rest.substr(1, rest.size() - 2));
        if (t.text.empty() || !name_start(t.text[0])) return SyntaxError{line_, "bad variable name " + std::string(w)};
        for (char k : t.text)
          if (!name_char(k)) return SyntaxError{line_, "bad variable name " + std::string(w)};
        return t;
      }
    }
    t.kind = TokenKind::word;
    auto parts = split_interpolation(w, false);
    if (auto* err = std::get_if<std::string>(&parts)) return SyntaxError{line_, *err};
    t.parts = std::move(std::get<Interpolated>(parts));
    return t;
  }
  return SyntaxError{line_, std::string("unexpected character '") + (std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : "\\x" + std::to_string(static_cast<unsigned char>(c))) + "'"};
}

namespace {

struct ParseFailure {
  SyntaxError error;
};

class Parser {
 public:
  explicit Parser(std::string_view src) : lex_(src) {}

  Block parse_program() {
    Block b = statements(false);
    if (peek(LexMode::operand).kind != TokenKind::end) fail("unexpected '}' (no block is open)");
    return b;
  }

 private:
  [[noreturn]] void fail(std::string msg, int line = 0) {
    throw ParseFailure{{line ? line : peek_line(), std::move(msg)}};
  }
  int peek_line() { return have_ ? tok_.line : lex_.line(); }

  const Token& peek(LexMode mode) {
    if (have_ && mode_ == mode) return tok_;
    if (have_) lex_.rewind(tok_pos_, tok_line_);
    tok_pos_ = lex_.position();
    tok_line_ = lex_.line();
    auto r = lex_.next(mode);
    if (auto* e = std::get_if<SyntaxError>(&r)) throw ParseFailure{*e};
    tok_ = std::move(std::get<Token>(r));
    have_ = true;
    mode_ = mode;
    return tok_;
  }
  Token take(LexMode mode) {
    peek(mode);
    have_ = false;
    return std::move(tok_);
  }
  bool at_op(LexMode mode, std::string_view op) {
    const Token& t = peek(mode);
    return t.kind == TokenKind::op && t.text == op;
  }
  bool at_word(std::string_view w) {
    const Token& t = peek(LexMode::operand);
    return t.kind == TokenKind::word && t.text == w;
  }
  void skip_newlines() {
    while (true) {
      auto k = peek(LexMode::operand).kind;
      if (k != TokenKind::newline && k != TokenKind::semicolon) return;
      take(LexMode::operand);
    }
  }
  void enter() {
    if (++depth_ > max_nesting_depth) fail("nesting deeper than " + std::to_string(max_nesting_depth) + " levels");
  }

  Block statements(bool in_block) {
    Block out;
    while (true) {
      skip_newlines();
      auto k = peek(LexMode::operand).kind;
      if (k == TokenKind::end) {
        if (in_block) fail("missing '}' at the end of the file");
        return out;
      }
      if (k == TokenKind::rbrace) {
        if (!in_block) return out;
        return out;
      }
      out.push_back(statement());
      auto e = peek(LexMode::operator_).kind;
      if (e != TokenKind::newline && e != TokenKind::semicolon && e != TokenKind::end && e != TokenKind::rbrace)
        fail("unexpected " + describe(peek(LexMode::operator_)) + " after a statement (one statement per line, or separate them with ';')");
    }
  }

  Block block() {
    skip_newlines_only();
    if (peek(LexMode::operand).kind != TokenKind::lbrace) fail("expected '{' to open a block, found " + describe(peek(LexMode::operand)));
    take(LexMode::operand);
    enter();
    Block b = statements(true);
    --depth_;
    take(LexMode::operand);  // '}'
    return b;
  }
  void skip_newlines_only() {
    while (peek(LexMode::operand).kind == TokenKind::newline) take(LexMode::operand);
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::end: return "end of file";
      case TokenKind::newline: return "end of line";
      case TokenKind::semicolon: return "';'";
      case TokenKind::lbrace: return "'{'";
      case TokenKind::rbrace: return "'}'";
      case TokenKind::lparen: return "'('";
      case TokenKind::rparen: return "')'";
      case TokenKind::comma: return "','";
      case TokenKind::pattern: return "a pattern";
      case TokenKind::string: return "\"" + t.text + "\"";
      case TokenKind::literal: return "'" + t.text + "'";
      case TokenKind::command: return "`" + t.text + "`";
      case TokenKind::variable: return "$" + t.text;
      default: return "'" + t.text + "'";
    }
  }

  StmtPtr statement() {
    auto s = std::make_unique<Stmt>();
    const Token& t = peek(LexMode::operand);
    s->line = t.line;
    if (t.kind == TokenKind::word && keywords.count(t.text)) {
      std::string kw = take(LexMode::operand).text;
      if (kw == "if") {
        s->kind = StmtKind::if_;
        s->conds.push_back(expression());
        s->blocks.push_back(block());
        while (true) {
          // elsif/else may follow on a later line; lookahead without losing position
          std::size_t save_pos = lex_.position();
          int save_line = lex_.line();
          bool had = have_;
          Token saved = tok_;
          LexMode saved_mode = mode_;
          skip_newlines_only();
          if (at_word("elsif")) {
            take(LexMode::operand);
            s->conds.push_back(expression());
            s->blocks.push_back(block());
          } else if (at_word("else")) {
            take(LexMode::operand);
            skip_newlines_only();
            if (at_word("if")) {
              take(LexMode::operand);
              s->conds.push_back(expression());
              s->blocks.push_back(block());
              continue;
            }
            s->else_block = block();
            break;
          } else {
            // not ours: put the newlines back, they end the statement
            lex_.rewind(save_pos, save_line);
            have_ = had;
            tok_ = std::move(saved);
            mode_ = saved_mode;
            break;
          }
        }
      } else if (kw == "elsif" || kw == "else") {
        fail("'" + kw + "' without a preceding if", s->line);
      } else if (kw == "while") {
        s->kind = StmtKind::while_;
        s->conds.push_back(expression());
        s->blocks.push_back(block());
      } else if (kw == "foreach") {
        s->kind = StmtKind::foreach;
        s->value = expression();
        if (s->value->kind != ExprKind::pattern && s->value->kind != ExprKind::match)
          fail("foreach needs /pattern/ or (expression) =~ /pattern/", s->line);
        s->blocks.push_back(block());
      } else if (kw == "exception") {
        s->kind = StmtKind::exception;
        s->blocks.push_back(block());
      } else if (kw == "dotlock" || kw == "flock") {
        s->kind = kw == "dotlock" ? StmtKind::dotlock : StmtKind::flock;
        s->value = expression();
        s->blocks.push_back(block());
      } else if (kw == "exit") {
        s->kind = StmtKind::exit;
      } else if (kw == "import") {
        s->kind = StmtKind::import;
        Token n = take(LexMode::operand);
        if (n.kind != TokenKind::variable && (n.kind != TokenKind::word || !valid_name(n.text)))
          fail("import needs a variable name, found " + describe(n), s->line);
        s->name = n.text;
      } else {
        static const std::pair<const char*, StmtKind> simple[] = {
            {"to", StmtKind::to},         {"cc", StmtKind::cc},         {"xfilter", StmtKind::xfilter},
            {"system", StmtKind::system}, {"log", StmtKind::log},       {"logfile", StmtKind::logfile},
            {"echo", StmtKind::echo},     {"include", StmtKind::include}};
        for (auto& [name, kind] : simple)
          if (kw == name) s->kind = kind;
        auto k = peek(LexMode::operand).kind;
        if (k == TokenKind::newline || k == TokenKind::end || k == TokenKind::semicolon || k == TokenKind::rbrace)
          fail("'" + kw + "' needs an argument", s->line);
        s->value = expression();
      }
      return s;
    }
    // NAME = expr ?
    if (t.kind == TokenKind::word && valid_name(t.text)) {
      Token name = take(LexMode::operand);
      if (at_op(LexMode::operator_, "=")) {
        take(LexMode::operator_);
        s->kind = StmtKind::assign;
        s->name = name.text;
        auto k = peek(LexMode::operand).kind;
        if (k == TokenKind::newline || k == TokenKind::end || k == TokenKind::semicolon) {
          auto e = std::make_unique<Expr>();  // NAME= (empty)
          e->line = s->line;
          s->value = std::move(e);
        } else {
          s->value = expression();
        }
        return s;
      }
      pending_word_ = std::move(name);  // an expression starting with this word
      has_pending_ = true;
    }
    s->kind = StmtKind::expr;
    s->value = expression();
    return s;
  }

  static bool valid_name(std::string_view n) {
    if (n.empty() || !name_start(n[0])) return false;
    for (char c : n)
      if (!name_char(c)) return false;
    return true;
  }

  ExprPtr make(ExprKind k, int line, std::string text = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    e->text = std::move(text);
    return e;
  }

  ExprPtr expression() {
    enter();
    ExprPtr e = or_expr();
    --depth_;
    return e;
  }
  ExprPtr binary_level(ExprPtr (Parser::*next)(), std::initializer_list<std::string_view> ops) {
    ExprPtr lhs = (this->*next)();
    while (true) {
      const Token& t = peek(LexMode::operator_);
      std::string op;
      for (auto o : ops)
        if ((t.kind == TokenKind::op || t.kind == TokenKind::word) && t.text == o) op = std::string(o);
      if (op.empty()) return lhs;
      int line = t.line;
      take(LexMode::operator_);
      skip_newlines_only_if_logical(op);
      auto b = make(ExprKind::binary, line, op);
      b->args.push_back(std::move(lhs));
      b->args.push_back((this->*next)());
      lhs = std::move(b);
    }
  }
  void skip_newlines_only_if_logical(const std::string& op) {
    if (op == "||" || op == "&&") skip_newlines_only();
  }
  ExprPtr or_expr() { return binary_level(&Parser::and_expr, {"||"}); }
  ExprPtr and_expr() { return binary_level(&Parser::cmp_expr, {"&&"}); }
  ExprPtr cmp_expr() {
    ExprPtr lhs = add_expr();
    const Token& t = peek(LexMode::operator_);
    if (t.kind == TokenKind::op && t.text == "=~") {
      int line = t.line;
      take(LexMode::operator_);
      Token p = take(LexMode::operand);
      if (p.kind != TokenKind::pattern) fail("=~ needs a /pattern/ on its right, found " + describe(p), line);
      auto m = make(ExprKind::match, line);
      m->pattern = std::move(p.pattern);
      m->args.push_back(std::move(lhs));
      return m;
    }
    static constexpr std::string_view cmps[] = {"<", "<=", ">", ">=", "==", "!=", "lt", "le", "gt", "ge", "eq", "ne"};
    for (auto o : cmps)
      if ((t.kind == TokenKind::op || t.kind == TokenKind::word) && t.text == o) {
        int line = t.line;
        take(LexMode::operator_);
        auto b = make(ExprKind::binary, line, std::string(o));
        b->args.push_back(std::move(lhs));
        b->args.push_back(add_expr());
        return b;
      }
    return lhs;
  }
  ExprPtr add_expr() { return binary_level(&Parser::mul_expr, {"+", "-"}); }
  ExprPtr mul_expr() { return binary_level(&Parser::unary_expr, {"*", "/"}); }
  ExprPtr unary_expr() {
    if (!has_pending_) {
      const Token& t = peek(LexMode::operand);
      if (t.kind == TokenKind::op && (t.text == "!" || t.text == "-")) {
        int line = t.line;
        std::string op = take(LexMode::operand).text;
        enter();
        auto u = make(ExprKind::unary, line, op);
        u->args.push_back(unary_expr());
        --depth_;
        return u;
      }
    }
    return primary();
  }
  ExprPtr primary() {
    Token t;
    if (has_pending_) {
      t = std::move(pending_word_);
      has_pending_ = false;
    } else {
      t = take(LexMode::operand);
    }
    switch (t.kind) {
      case TokenKind::number:
        return make(ExprKind::literal, t.line, t.text);
      case TokenKind::literal:
        return make(ExprKind::literal, t.line, t.text);
      case TokenKind::string: {
        auto e = make(ExprKind::string, t.line);
        e->parts = std::move(t.parts);
        return e;
      }
      case TokenKind::command: {
        auto e = make(ExprKind::command, t.line, t.text);
        e->parts = std::move(t.parts);
        return e;
      }
      case TokenKind::variable:
        return make(ExprKind::variable, t.line, t.text);
      case TokenKind::pattern: {
        auto e = make(ExprKind::pattern, t.line);
        e->pattern = std::move(t.pattern);
        return e;
      }
      case TokenKind::lparen: {
        ExprPtr e = expression();
        Token c = take(LexMode::operator_);
        if (c.kind != TokenKind::rparen) fail("expected ')', found " + describe(c), c.line);
        return e;
      }
      case TokenKind::word: {
        if (valid_name(t.text) && peek(LexMode::operator_).kind == TokenKind::lparen) {
          take(LexMode::operator_);
          auto call = make(ExprKind::call, t.line, t.text);
          if (peek(LexMode::operand).kind == TokenKind::rparen) {
            take(LexMode::operand);
            return call;
          }
          while (true) {
            call->args.push_back(expression());
            Token sep = take(LexMode::operator_);
            if (sep.kind == TokenKind::rparen) break;
            if (sep.kind != TokenKind::comma) fail("expected ',' or ')' in the arguments of " + t.text + "(), found " + describe(sep), sep.line);
          }
          return call;
        }
        if (keywords.count(t.text)) fail("'" + t.text + "' cannot be used here", t.line);
        auto e = make(ExprKind::string, t.line);
        e->parts = std::move(t.parts);
        return e;
      }
      default:
        fail("expected a value, found " + describe(t), t.line);
    }
  }

  Lexer lex_;
  Token tok_;
  bool have_ = false;
  LexMode mode_ = LexMode::operand;
  std::size_t tok_pos_ = 0;
  int tok_line_ = 1;
  int depth_ = 0;
  Token pending_word_;
  bool has_pending_ = false;
};

}  // namespace

std::variant<Program, SyntaxError> parse_filter(std::string_view source, std::string file_name) {
  if (source.size() > max_filter_bytes)
    return SyntaxError{1, "the filter is larger than " + std::to_string(max_filter_bytes) + " bytes"};
  if (source.find('\0') != std::string_view::npos) {
    int line = 1;
    for (char c : source.substr(0, source.find('\0'))) line += c == '\n';
    return SyntaxError{line, "NUL byte in the filter (is this a binary file?)"};
  }
  try {
    Parser p(source);
    Program prog;
    prog.file = std::move(file_name);
    prog.body = p.parse_program();
    return prog;
  } catch (const ParseFailure& f) {
    return f.error;
  }
}

}  // namespace maildrop
