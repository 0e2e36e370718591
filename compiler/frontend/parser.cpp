#include "frontend/parser.hpp"

namespace adjoint::frontend {

namespace {

// Counts one level of parser recursion for as long as it lives.
class RecursionGuard {
 public:
  explicit RecursionGuard(uint32_t& depth) : depth_(depth) { ++depth_; }
  ~RecursionGuard() { --depth_; }
  RecursionGuard(const RecursionGuard&) = delete;
  RecursionGuard& operator=(const RecursionGuard&) = delete;

 private:
  uint32_t& depth_;
};

std::optional<BinOp> additive_op(Tok k) {
  if (k == Tok::Plus) return BinOp::Add;
  if (k == Tok::Minus) return BinOp::Sub;
  return std::nullopt;
}

std::optional<BinOp> multiplicative_op(Tok k) {
  if (k == Tok::Star) return BinOp::Mul;
  if (k == Tok::Slash) return BinOp::Div;
  if (k == Tok::At) return BinOp::MatMul;
  return std::nullopt;
}

NumberLit number_lit(const Token& t) {
  return NumberLit{std::string(t.text), t.number, t.is_integer, t.fits_int64, t.integer};
}

}  // namespace

Parser::Parser(const SourceManager& sm, uint32_t file, Diagnostics& diags)
    : lex_(sm, file), diags_(diags), file_(file) {}

// ---------------------------------------------------------------- tokens

const Token& Parser::peek(size_t ahead) {
  size_t seen = 0;
  for (size_t i = 0;; ++i) {
    while (buf_.size() <= i) buf_.push_back(lex_.next());
    const Token& t = buf_[i];
    if (!open_.empty() && t.kind == Tok::Newline) continue;
    if (seen++ == ahead) return t;
  }
}

Token Parser::take() {
  peek();  // fills the buffer up to the current token
  while (!open_.empty() && buf_.front().kind == Tok::Newline) buf_.pop_front();
  Token t = std::move(buf_.front());
  buf_.pop_front();
  return t;
}

bool Parser::accept(Tok k) {
  if (!at(k)) return false;
  take();
  return true;
}

Token Parser::expect(Tok k, const std::string& what) {
  if (!at(k)) unexpected(peek(), what);
  return take();
}

void Parser::fail(SourceLoc loc, std::string message) {
  diags_.error(loc, std::move(message));
  throw Failure{};
}

// A missing closing bracket is usually noticed on a later line (the newline
// was taken as a continuation) or at the end of the file; then the message
// points at the bracket left open rather than at the innocent next line.
void Parser::unexpected(const Token& t, const std::string& expected) {
  bool starts_statement = t.kind == Tok::Ident || Lexer::keyword(t.text).has_value();
  if (!open_.empty() && (t.kind == Tok::Eof || (t.first_on_line && starts_statement))) {
    const Token& open = open_.back();
    fail(open.loc, std::string("unclosed ") + tok_spelling(open.kind) + " (expected " +
                       (open.kind == Tok::LParen ? "')'" : "']'") + ")");
  }
  if (t.kind == Tok::Error) fail(t.loc, t.message);
  fail(t.loc, "expected " + expected + ", got " + describe(t));
}

void Parser::open_bracket() { open_.push_back(take()); }

void Parser::expect_close(Tok close, const std::string& expected) {
  if (!at(close)) unexpected(peek(), expected);
  take();
  open_.pop_back();
}

// Skips the rest of a failed statement. When the failure was noticed at the
// first token of a later line (an unclosed bracket), that line is a statement
// of its own and is kept.
void Parser::recover(SourceLoc stmt_start) {
  open_.clear();
  recursion_ = 0;
  if (peek().loc == stmt_start && !at(Tok::Eof)) take();
  while (!at(Tok::Newline) && !at(Tok::Eof)) take();
}

// ---------------------------------------------------------------- statements

std::unique_ptr<Ast> Parser::parse() {
  auto ast = std::make_unique<Ast>();
  ast->file = file_;
  while (!at(Tok::Eof)) {
    if (accept(Tok::Newline)) continue;
    SourceLoc start = peek().loc;
    pending_name_.clear();
    pending_name_loc_ = {};
    try {
      ast->stmts.push_back(parse_statement());
    } catch (const Failure&) {
      ast->stmts.emplace_back();
      ast->stmts.back().loc = start;
      ast->stmts.back().name_loc = pending_name_loc_;
      ast->stmts.back().node = InvalidStmt{pending_name_};
      recover(start);
    }
    if (diags_.error_count() > Diagnostics::kMaxErrors) return nullptr;
  }
  return ast;
}

Stmt Parser::parse_statement() {
  Stmt s;
  switch (peek().kind) {
    case Tok::KwModel:
      s = parse_model();
      break;
    case Tok::KwInput:
      s = parse_input();
      break;
    case Tok::KwParam:
      s = parse_param();
      break;
    case Tok::KwDef:
      s = parse_def();
      break;
    case Tok::KwMinimize:
      s = parse_minimize();
      break;
    case Tok::KwOutput:
      s = parse_output();
      break;
    case Tok::Ident:
      s = parse_let();
      break;
    default:
      unexpected(peek(), "a statement");
  }
  end_statement();
  return s;
}

void Parser::end_statement() {
  if (at(Tok::Eof)) return;
  if (!at(Tok::Newline)) unexpected(peek(), "end of line");
  take();
}

Stmt Parser::parse_model() {
  SourceLoc loc = take().loc;
  Token name = expect(Tok::Ident, "the model's name");
  return Stmt{loc, name.loc, ModelStmt{std::string(name.text)}};
}

Stmt Parser::parse_input() {
  SourceLoc loc = take().loc;
  Token name = expect(Tok::Ident, "the input's name");
  pending_name_ = std::string(name.text);
  pending_name_loc_ = name.loc;
  expect(Tok::Colon, "':' and a type");
  TypeExpr type = parse_type();
  if (at(Tok::Equal)) fail(peek().loc, "an input takes no initialiser (only a param does)");
  return Stmt{loc, name.loc, InputStmt{pending_name_, std::move(type)}};
}

Stmt Parser::parse_param() {
  SourceLoc loc = take().loc;
  Token name = expect(Tok::Ident, "the param's name");
  pending_name_ = std::string(name.text);
  pending_name_loc_ = name.loc;
  expect(Tok::Colon, "':' and a type");
  TypeExpr type = parse_type();
  ExprPtr init;
  if (accept(Tok::Equal)) init = parse_expr();
  return Stmt{loc, name.loc, ParamStmt{pending_name_, std::move(type), std::move(init)}};
}

Stmt Parser::parse_def() {
  SourceLoc loc = take().loc;
  Token name = expect(Tok::Ident, "the def's name");
  pending_name_ = std::string(name.text);
  pending_name_loc_ = name.loc;
  if (!at(Tok::LParen)) unexpected(peek(), "'(' and the def's parameters");
  open_bracket();
  std::vector<DefParam> params;
  while (!at(Tok::RParen)) {
    Token p = expect(Tok::Ident, "a parameter name");
    params.push_back({std::string(p.text), p.loc});
    if (!accept(Tok::Comma)) break;
  }
  expect_close(Tok::RParen, "',' or ')'");
  expect(Tok::Equal, "'=' and the def's body");
  ExprPtr body = parse_expr();
  return Stmt{loc, name.loc, DefStmt{pending_name_, std::move(params), std::move(body)}};
}

Stmt Parser::parse_let() {
  Token name = take();
  pending_name_ = std::string(name.text);
  pending_name_loc_ = name.loc;
  if (!at(Tok::Equal)) {
    if (at(Tok::LParen))
      fail(name.loc, "a call on its own does nothing; bind its result: NAME = EXPR");
    unexpected(peek(), "'=' after '" + pending_name_ + "' (a statement binds a name: NAME = EXPR)");
  }
  take();
  ExprPtr value = parse_expr();
  return Stmt{name.loc, name.loc, LetStmt{pending_name_, std::move(value)}};
}

Stmt Parser::parse_minimize() {
  SourceLoc loc = take().loc;
  Token name = expect(Tok::Ident, "the name of the value to minimize");
  MinimizeStmt m;
  m.target = {std::string(name.text), name.loc};
  if (accept(Tok::KwWrt)) {
    m.has_wrt = true;
    m.wrt = parse_name_list("the name of a param or input");
  }
  return Stmt{loc, {}, std::move(m)};
}

Stmt Parser::parse_output() {
  SourceLoc loc = take().loc;
  return Stmt{loc, {}, OutputStmt{parse_name_list("the name of a value")}};
}

std::vector<NameUse> Parser::parse_name_list(const std::string& what) {
  std::vector<NameUse> names;
  do {
    Token t = expect(Tok::Ident, what);
    names.push_back({std::string(t.text), t.loc});
  } while (accept(Tok::Comma));
  return names;
}

TypeExpr Parser::parse_type() {
  TypeExpr type;
  type.loc = peek().loc;
  switch (peek().kind) {
    case Tok::KwF32:
      type.dtype = DType::f32;
      break;
    case Tok::KwF64:
      type.dtype = DType::f64;
      break;
    case Tok::KwI32:
      type.dtype = DType::i32;
      break;
    default:
      unexpected(peek(), "a type (f32, f64 or i32)");
  }
  take();
  if (!at(Tok::LBracket)) return type;
  open_bracket();
  while (!at(Tok::RBracket)) {
    type.dims.push_back(parse_dim());
    if (!accept(Tok::Comma)) break;
  }
  expect_close(Tok::RBracket, "',' or ']'");
  return type;
}

// An integer literal (a negative one is parsed so sema can say sizes must be
// positive) or a size symbol.
DimExpr Parser::parse_dim() {
  DimExpr d;
  d.loc = peek().loc;
  bool negative = accept(Tok::Minus);
  const Token& t = peek();
  if (t.kind == Tok::Ident && !negative) {
    d.symbol = std::string(take().text);
    return d;
  }
  if (t.kind != Tok::Number) unexpected(t, "a size (an integer or a name such as B)");
  if (!t.is_integer) fail(t.loc, "a size must be an integer, got " + describe(t));
  if (!t.fits_int64) fail(t.loc, "size " + describe(t) + " is too large");
  d.size = negative ? -t.integer : t.integer;
  take();
  return d;
}

// ---------------------------------------------------------------- expressions

ExprPtr Parser::checked(SourceLoc loc, Expr::Node node, SourceLoc begin) {
  ExprPtr e = make_expr(loc, std::move(node), begin);
  if (e->depth > kMaxDepth)
    fail(loc, "expression is too large (more than " + std::to_string(kMaxDepth) +
                  " nested operations); split it into named steps");
  return e;
}

ExprPtr Parser::binary(const Token& op, ExprPtr lhs, ExprPtr rhs) {
  BinOp kind = op.kind == Tok::Caret  ? BinOp::Pow
               : additive_op(op.kind) ? *additive_op(op.kind)
                                      : *multiplicative_op(op.kind);
  SourceLoc begin = lhs->begin;
  return checked(op.loc, Binary{kind, std::move(lhs), std::move(rhs)}, begin);
}

ExprPtr Parser::parse_expr() {
  ExprPtr lhs = parse_term();
  while (additive_op(peek().kind)) {
    Token op = take();
    lhs = binary(op, std::move(lhs), parse_term());
  }
  return lhs;
}

ExprPtr Parser::parse_term() {
  ExprPtr lhs = parse_unary();
  while (multiplicative_op(peek().kind)) {
    Token op = take();
    lhs = binary(op, std::move(lhs), parse_unary());
  }
  return lhs;
}

// Every recursive path of the grammar passes through here, so this is where
// nesting is bounded.
ExprPtr Parser::parse_unary() {
  RecursionGuard guard(recursion_);
  if (recursion_ > kMaxNesting)
    fail(peek().loc,
         "expression is nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
  if (!at(Tok::Minus)) return parse_power();
  Token minus = take();
  ExprPtr operand = parse_unary();
  return checked(minus.loc, Negate{std::move(operand)}, minus.loc);
}

ExprPtr Parser::parse_power() {
  ExprPtr base = parse_postfix();
  if (!at(Tok::Caret)) return base;
  Token op = take();
  return binary(op, std::move(base), parse_unary());
}

ExprPtr Parser::parse_postfix() {
  ExprPtr e = parse_primary();
  while (at(Tok::Dot)) {
    Token dot = take();
    const Token& t = peek();
    if (t.kind != Tok::Ident || t.text != "T")
      fail(t.loc, "expected 'T' after '.' (x.T is the transpose of x), got " + describe(t));
    take();
    SourceLoc begin = e->begin;
    e = checked(dot.loc, TransposeExpr{std::move(e)}, begin);
  }
  return e;
}

ExprPtr Parser::parse_primary() {
  const Token& t = peek();
  switch (t.kind) {
    case Tok::Number: {
      Token n = take();
      return make_expr(n.loc, number_lit(n));
    }
    case Tok::KwTrue:
    case Tok::KwFalse: {
      Token b = take();
      return make_expr(b.loc, BoolLit{b.kind == Tok::KwTrue});
    }
    case Tok::Ident: {
      Token name = take();
      if (at(Tok::LParen)) return parse_call(name);
      return make_expr(name.loc, NameRef{std::string(name.text)});
    }
    case Tok::LParen: {
      open_bracket();
      ExprPtr inner = parse_expr();
      expect_close(Tok::RParen, "')'");
      return inner;
    }
    case Tok::LBracket:
      return parse_list();
    default:
      unexpected(t, "an expression");
  }
}

ExprPtr Parser::parse_call(const Token& name) {
  open_bracket();
  Call call{std::string(name.text), {}};
  bool seen_keyword = false;
  while (!at(Tok::RParen)) {
    Arg arg;
    arg.loc = peek().loc;
    if (at(Tok::Ident) && peek(1).kind == Tok::Equal) {
      arg.keyword = std::string(take().text);
      take();
      seen_keyword = true;
    } else if (seen_keyword) {
      fail(arg.loc, "a positional argument cannot follow a keyword argument");
    }
    arg.value = parse_expr();
    call.args.push_back(std::move(arg));
    if (!accept(Tok::Comma)) break;
  }
  expect_close(Tok::RParen, "',' or ')'");
  return checked(name.loc, std::move(call), name.loc);
}

ExprPtr Parser::parse_list() {
  SourceLoc loc = peek().loc;
  open_bracket();
  ListLit list;
  while (!at(Tok::RBracket)) {
    list.elems.push_back(parse_expr());
    if (!accept(Tok::Comma)) break;
  }
  expect_close(Tok::RBracket, "',' or ']'");
  return checked(loc, std::move(list), loc);
}

}  // namespace adjoint::frontend
