#include "frontend/lexer.hpp"

#include <charconv>
#include <cstdio>

namespace adjoint::frontend {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::optional<Tok> punctuation(char c) {
  switch (c) {
    case '(':
      return Tok::LParen;
    case ')':
      return Tok::RParen;
    case '[':
      return Tok::LBracket;
    case ']':
      return Tok::RBracket;
    case ',':
      return Tok::Comma;
    case ':':
      return Tok::Colon;
    case '=':
      return Tok::Equal;
    case '+':
      return Tok::Plus;
    case '-':
      return Tok::Minus;
    case '*':
      return Tok::Star;
    case '/':
      return Tok::Slash;
    case '@':
      return Tok::At;
    case '^':
      return Tok::Caret;
    case '.':
      return Tok::Dot;
    default:
      return std::nullopt;
  }
}

// Where a token (or a comment, or a line break) can begin; everything else is
// invalid text.
bool starts_something(char c) {
  return is_blank(c) || c == '\n' || c == '#' || is_ident_char(c) || punctuation(c).has_value();
}

// The bad text, quoted when printable, as hex bytes otherwise.
std::string invalid_text_message(std::string_view bad) {
  bool printable = true;
  for (char c : bad) printable = printable && c >= 33 && c <= 126;
  if (printable) {
    std::string shown(bad.substr(0, 20));
    if (bad.size() > 20) shown += "...";
    return std::string(bad.size() == 1 ? "unexpected character '" : "unexpected characters '") +
           shown + "'";
  }
  std::string hex;
  for (size_t i = 0; i < bad.size() && i < 4; ++i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%s0x%02X", i ? " " : "", static_cast<unsigned char>(bad[i]));
    hex += buf;
  }
  if (bad.size() > 4) hex += " ...";
  return "invalid bytes in source (" + hex + "); .adj files are ASCII text";
}

}  // namespace

const char* tok_spelling(Tok kind) {
  switch (kind) {
#define ADJ_TOKEN_CASE(k, spelling) \
  case Tok::k:                      \
    return spelling;
    ADJ_TOKENS(ADJ_TOKEN_CASE)
#undef ADJ_TOKEN_CASE
  }
  return "?";
}

std::string describe(const Token& t) {
  if (t.kind == Tok::Ident || t.kind == Tok::Number) {
    std::string_view shown = t.text.substr(0, 40);
    return "'" + std::string(shown) + (t.text.size() > 40 ? "...'" : "'");
  }
  return tok_spelling(t.kind);
}

Lexer::Lexer(const SourceManager& sm, uint32_t file) : text_(sm.text(file)), file_(file) {}

std::optional<Tok> Lexer::keyword(std::string_view w) {
  static constexpr std::pair<std::string_view, Tok> kWords[] = {
      {"model", Tok::KwModel},   {"input", Tok::KwInput},       {"param", Tok::KwParam},
      {"def", Tok::KwDef},       {"minimize", Tok::KwMinimize}, {"wrt", Tok::KwWrt},
      {"output", Tok::KwOutput}, {"f32", Tok::KwF32},           {"f64", Tok::KwF64},
      {"i32", Tok::KwI32},       {"true", Tok::KwTrue},         {"false", Tok::KwFalse}};
  for (const auto& [word, kind] : kWords)
    if (w == word) return kind;
  return std::nullopt;
}

char Lexer::peek(size_t ahead) const {
  return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
}

void Lexer::bump() {
  if (pos_ >= text_.size()) return;
  if (text_[pos_] == '\n') {
    ++line_;
    col_ = 1;
  } else {
    ++col_;
  }
  ++pos_;
}

void Lexer::skip_blanks_and_comments() {
  while (pos_ < text_.size()) {
    char c = text_[pos_];
    if (is_blank(c)) {
      bump();
    } else if (c == '#') {
      while (pos_ < text_.size() && text_[pos_] != '\n') bump();
    } else {
      break;
    }
  }
}

// A line's end (or the file's) is placed just after the line's last token,
// so "expected an expression" points there rather than past a comment.
Token Lexer::make(Tok kind, SourceLoc loc, size_t begin) {
  Token t;
  t.kind = kind;
  t.loc = (kind == Tok::Newline || kind == Tok::Eof) && !at_line_start_ ? prev_end_ : loc;
  if (kind != Tok::Newline && kind != Tok::Eof) prev_end_ = here();
  t.text = text_.substr(begin, pos_ - begin);
  t.first_on_line = at_line_start_;
  if (kind != Tok::Eof) at_line_start_ = kind == Tok::Newline;
  return t;
}

Token Lexer::next() {
  skip_blanks_and_comments();
  SourceLoc loc = here();
  size_t begin = pos_;
  if (pos_ >= text_.size()) return make(Tok::Eof, loc, begin);
  char c = text_[pos_];
  if (c == '\n') {
    bump();
    return make(Tok::Newline, loc, begin);
  }
  if (is_digit(c) || (c == '.' && is_digit(peek(1)))) return lex_number(loc);
  if (is_ident_start(c)) return lex_identifier(loc);
  if (auto p = punctuation(c)) {
    bump();
    return make(*p, loc, begin);
  }
  return lex_invalid(loc);
}

// digits ['.' digits] [('e'|'E') ['+'|'-'] digits]; a letter glued to the end
// ("3x", "2e") makes the whole word an invalid number.
Token Lexer::lex_number(SourceLoc loc) {
  size_t begin = pos_;
  bool integer = true;
  while (is_digit(peek())) bump();
  if (peek() == '.' && is_digit(peek(1))) {
    integer = false;
    bump();
    while (is_digit(peek())) bump();
  }
  if (peek() == 'e' || peek() == 'E') {
    size_t sign = (peek(1) == '+' || peek(1) == '-') ? 1 : 0;
    if (is_digit(peek(1 + sign))) {
      integer = false;
      for (size_t i = 0; i <= sign; ++i) bump();
      while (is_digit(peek())) bump();
    }
  }
  if (is_ident_char(peek())) {
    while (is_ident_char(peek()) || peek() == '.') bump();
    Token t = make(Tok::Error, loc, begin);
    t.message = "invalid number '" + std::string(t.text.substr(0, 40)) + "'";
    return t;
  }
  Token t = make(Tok::Number, loc, begin);
  const char* first = t.text.data();
  const char* last = first + t.text.size();
  auto [end, ec] = std::from_chars(first, last, t.number);
  if (ec != std::errc() || end != last) {
    t.kind = Tok::Error;
    t.message = "number '" + std::string(t.text.substr(0, 40)) + "' is out of range";
    return t;
  }
  t.is_integer = integer;
  if (integer) {
    auto r = std::from_chars(first, last, t.integer);
    t.fits_int64 = r.ec == std::errc() && r.ptr == last;
  }
  return t;
}

Token Lexer::lex_identifier(SourceLoc loc) {
  size_t begin = pos_;
  while (is_ident_char(peek())) bump();
  Token t = make(Tok::Ident, loc, begin);
  if (auto kw = keyword(t.text)) t.kind = *kw;
  return t;
}

Token Lexer::lex_invalid(SourceLoc loc) {
  size_t begin = pos_;
  while (pos_ < text_.size() && !starts_something(text_[pos_])) bump();
  Token t = make(Tok::Error, loc, begin);
  t.message = invalid_text_message(t.text);
  return t;
}

}  // namespace adjoint::frontend
