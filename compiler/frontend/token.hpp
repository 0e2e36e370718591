// Tokens of the .adj language (LANGUAGE.md, "Lexical rules").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "support/diagnostics.hpp"

namespace adjoint::frontend {

// X-macro: kind, spelling used in messages.
#define ADJ_TOKENS(T)         \
  T(Eof, "end of file")       \
  T(Newline, "end of line")   \
  T(Error, "invalid text")    \
  T(Ident, "identifier")      \
  T(Number, "number")         \
  T(KwModel, "'model'")       \
  T(KwInput, "'input'")       \
  T(KwParam, "'param'")       \
  T(KwDef, "'def'")           \
  T(KwMinimize, "'minimize'") \
  T(KwWrt, "'wrt'")           \
  T(KwOutput, "'output'")     \
  T(KwF32, "'f32'")           \
  T(KwF64, "'f64'")           \
  T(KwI32, "'i32'")           \
  T(KwTrue, "'true'")         \
  T(KwFalse, "'false'")       \
  T(LParen, "'('")            \
  T(RParen, "')'")            \
  T(LBracket, "'['")          \
  T(RBracket, "']'")          \
  T(Comma, "','")             \
  T(Colon, "':'")             \
  T(Equal, "'='")             \
  T(Plus, "'+'")              \
  T(Minus, "'-'")             \
  T(Star, "'*'")              \
  T(Slash, "'/'")             \
  T(At, "'@'")                \
  T(Caret, "'^'")             \
  T(Dot, "'.'")

enum class Tok : uint8_t {
#define ADJ_TOKEN_ENUM(kind, spelling) kind,
  ADJ_TOKENS(ADJ_TOKEN_ENUM)
#undef ADJ_TOKEN_ENUM
};

// "'('", "identifier", ... for messages.
const char* tok_spelling(Tok kind);

struct Token {
  Tok kind = Tok::Eof;
  SourceLoc loc;
  std::string_view text;       // points into the SourceManager's buffer
  double number = 0;           // Number: its value
  bool is_integer = false;     // Number: written without '.' or exponent
  bool fits_int64 = false;     // Number: is_integer and representable as int64
  int64_t integer = 0;         // Number: its value when fits_int64
  bool first_on_line = false;  // first token of its line (used by error recovery)
  std::string message;         // Error: what is wrong
};

// How a token reads in a message: "'foo'" for identifiers and numbers, the
// kind's spelling otherwise.
std::string describe(const Token& t);

}  // namespace adjoint::frontend
