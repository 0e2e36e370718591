// The parser: tokens to an AST, by recursive descent over LANGUAGE.md's
// grammar:
//
//   file      := (statement? NEWLINE)*
//   statement := 'model' NAME | 'input' NAME ':' type | 'param' NAME ':' type ['=' expr]
//              | 'def' NAME '(' [NAME (',' NAME)*] ')' '=' expr | NAME '=' expr
//              | 'minimize' NAME ['wrt' NAME (',' NAME)*] | 'output' NAME (',' NAME)*
//   type      := ('f32' | 'f64' | 'i32') ['[' [dim (',' dim)*] ']']
//   expr      := term (('+' | '-') term)*
//   term      := unary (('*' | '/' | '@') unary)*
//   unary     := '-' unary | power
//   power     := postfix ['^' unary]                 (right associative)
//   postfix   := primary ('.' 'T')*
//   primary   := NUMBER | 'true' | 'false' | NAME | NAME '(' args ')' | '(' expr ')'
//              | '[' [expr (',' expr)*] ']'
//   args      := [arg (',' arg)*]    arg := [NAME '='] expr
//
// Newlines end statements except inside ( ) and [ ]. Errors are reported and
// the parser resumes at the next statement; a statement that fails becomes an
// InvalidStmt carrying the name it meant to bind. Recursion is bounded
// (kMaxNesting) and so is the height of any expression (kMaxDepth), so no
// input can overflow the stack here or in the passes that walk the AST.
#pragma once

#include <deque>
#include <memory>

#include "frontend/ast.hpp"
#include "frontend/lexer.hpp"

namespace adjoint::frontend {

class Parser {
 public:
  static constexpr uint32_t kMaxNesting = 256;  // nested ( [ calls, unary minus, ^
  static constexpr uint32_t kMaxDepth = 1000;   // height of one expression tree

  Parser(const SourceManager& sm, uint32_t file, Diagnostics& diags);
  // Null when the input is hopeless (more errors than Diagnostics reports).
  std::unique_ptr<Ast> parse();

 private:
  struct Failure {};  // thrown after a parse error has been reported

  // --- tokens ---
  const Token& peek(size_t ahead = 0);
  Token take();
  bool at(Tok k) { return peek().kind == k; }
  bool accept(Tok k);
  Token expect(Tok k, const std::string& what);
  [[noreturn]] void fail(SourceLoc loc, std::string message);
  [[noreturn]] void unexpected(const Token& t, const std::string& expected);
  void open_bracket();  // takes a ( or [
  void expect_close(Tok close, const std::string& expected);
  void recover(SourceLoc stmt_start);

  // --- statements ---
  Stmt parse_statement();
  void end_statement();
  Stmt parse_model();
  Stmt parse_input();
  Stmt parse_param();
  Stmt parse_def();
  Stmt parse_let();
  Stmt parse_minimize();
  Stmt parse_output();
  std::vector<NameUse> parse_name_list(const std::string& what);
  TypeExpr parse_type();
  DimExpr parse_dim();

  // --- expressions ---
  ExprPtr parse_expr();
  ExprPtr parse_term();
  ExprPtr parse_unary();
  ExprPtr parse_power();
  ExprPtr parse_postfix();
  ExprPtr parse_primary();
  ExprPtr parse_call(const Token& name);
  ExprPtr parse_list();
  ExprPtr checked(SourceLoc loc, Expr::Node node, SourceLoc begin);
  ExprPtr binary(const Token& op, ExprPtr lhs, ExprPtr rhs);

  Lexer lex_;
  Diagnostics& diags_;
  uint32_t file_;
  std::deque<Token> buf_;    // lookahead, raw (newlines included)
  std::vector<Token> open_;  // open ( and [: newlines are skipped while any is open
  uint32_t recursion_ = 0;
  std::string pending_name_;  // the name the current statement binds, once known
  SourceLoc pending_name_loc_;
};

}  // namespace adjoint::frontend
