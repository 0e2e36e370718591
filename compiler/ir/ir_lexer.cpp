// The IR text form's lexer: one line at a time into tokens.
#include <charconv>
#include <cstdlib>

#include "ir/ir_parser_impl.hpp"

namespace adjoint::ir_text {

void IrParser::fail(uint32_t col, const std::string& msg) const {
  Diagnostics d(sm_);
  d.error(SourceLoc{file_, line_, col}, msg);
  d.throw_if_errors();
  throw Error(msg);  // not reached
}

// --- Lexing ---

size_t IrParser::lex_number(std::string_view line, size_t i) {
  size_t j = i;
  bool is_float = false;
  while (j < line.size() && is_digit(line[j])) ++j;
  if (j < line.size() && line[j] == '.') {
    is_float = true;
    ++j;
    while (j < line.size() && is_digit(line[j])) ++j;
  }
  if (j < line.size() && (line[j] == 'e' || line[j] == 'E')) {
    is_float = true;
    ++j;
    if (j < line.size() && (line[j] == '+' || line[j] == '-')) ++j;
    if (j >= line.size() || !is_digit(line[j])) fail(i + 1, "malformed number");
    while (j < line.size() && is_digit(line[j])) ++j;
  }
  if (j < line.size() && (is_ident_char(line[j]) || line[j] == '.'))
    fail(i + 1, "malformed number");
  toks_.push_back({is_float ? Token::Float : Token::Int, std::string(line.substr(i, j - i)),
                   static_cast<uint32_t>(i + 1)});
  return j;
}

size_t IrParser::lex_string(std::string_view line, size_t i) {
  std::string s;
  size_t j = i + 1;
  while (true) {
    if (j >= line.size()) fail(i + 1, "unterminated string");
    char c = line[j];
    if (c == '"') break;
    if (c != '\\') {
      s += c;
      ++j;
      continue;
    }
    if (j + 1 >= line.size()) fail(i + 1, "unterminated string");
    char e = line[j + 1];
    if (e == '"' || e == '\\')
      s += e;
    else if (e == 'n')
      s += '\n';
    else if (e == 't')
      s += '\t';
    else if (e == 'x' && j + 3 < line.size() &&
             std::isxdigit(static_cast<unsigned char>(line[j + 2])) &&
             std::isxdigit(static_cast<unsigned char>(line[j + 3]))) {
      s += static_cast<char>(std::strtol(std::string(line.substr(j + 2, 2)).c_str(), nullptr, 16));
      j += 2;
    } else {
      fail(j + 1, "unknown escape in string");
    }
    j += 2;
  }
  toks_.push_back({Token::String, std::move(s), static_cast<uint32_t>(i + 1)});
  return j + 1;
}

void IrParser::lex_line(std::string_view line) {
  toks_.clear();
  pos_ = 0;
  size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    uint32_t col = static_cast<uint32_t>(i + 1);
    if (c == ' ' || c == '\t') {
      ++i;
    } else if (c == '#') {
      break;
    } else if (c == '%') {
      size_t j = i + 1;
      while (j < line.size() && is_digit(line[j])) ++j;
      if (j == i + 1) fail(col, "expected a value number after '%'");
      toks_.push_back({Token::Ref, std::string(line.substr(i + 1, j - i - 1)), col});
      i = j;
    } else if (is_ident_start(c)) {
      size_t j = i;
      while (j < line.size() && is_ident_char(line[j])) ++j;
      toks_.push_back({Token::Ident, std::string(line.substr(i, j - i)), col});
      i = j;
    } else if (is_digit(c)) {
      i = lex_number(line, i);
    } else if (c == '"') {
      i = lex_string(line, i);
    } else if (std::string_view("=(){}[],:*@-").find(c) != std::string_view::npos) {
      toks_.push_back({Token::Punct, std::string(1, c), col});
      ++i;
    } else {
      fail(col, "unexpected character " + describe_char(c));
    }
  }
  toks_.push_back({Token::End, "", static_cast<uint32_t>(line.size() + 1)});
}

// Records the line defining each value number, so a use before its
// definition can be told apart from a use of a number never defined.

}  // namespace adjoint::ir_text
