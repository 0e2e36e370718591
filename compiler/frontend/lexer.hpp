// The lexer: turns a source buffer into tokens, one at a time.
//
// It never fails: anything it cannot read becomes one Error token (a run of
// bad bytes is coalesced, so binary input gives a handful of errors, not one
// per byte) and lexing goes on. Comments are skipped; every newline is a
// Newline token (the parser decides when a newline continues a statement).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "frontend/token.hpp"

namespace adjoint::frontend {

class Lexer {
 public:
  Lexer(const SourceManager& sm, uint32_t file);
  // The next token; Eof forever once the buffer is exhausted.
  Token next();

  // The keyword spelled `word`, if it is one.
  static std::optional<Tok> keyword(std::string_view word);

 private:
  char peek(size_t ahead = 0) const;
  void bump();  // consumes one byte, tracking line and column
  SourceLoc here() const { return {file_, line_, col_}; }
  void skip_blanks_and_comments();
  Token make(Tok kind, SourceLoc loc, size_t begin);
  Token lex_number(SourceLoc loc);
  Token lex_identifier(SourceLoc loc);
  Token lex_invalid(SourceLoc loc);

  std::string_view text_;
  uint32_t file_;
  size_t pos_ = 0;
  uint32_t line_ = 1;
  uint32_t col_ = 1;
  bool at_line_start_ = true;
  SourceLoc prev_end_;  // just after the last token of the current line
};

}  // namespace adjoint::frontend
