// Internals of the IR text parser (ir_parser.cpp parses, ir_lexer.cpp
// splits lines into tokens). Not part of the compiler's interface: use
// ir/ir_parser.hpp.
#pragma once

#include <cctype>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.hpp"
#include "ops/op_table.hpp"
#include "support/diagnostics.hpp"

namespace adjoint::ir_text {

struct Token {
  enum Kind { End, Ident, Int, Float, String, Ref, Punct };
  Kind kind = End;
  std::string text;  // identifier, number, decoded string, a ref's digits, or one punctuation char
  uint32_t col = 0;  // 1-based
  bool is(char c) const { return kind == Punct && text.size() == 1 && text[0] == c; }
  bool is_word(std::string_view w) const { return kind == Ident && text == w; }
};

inline bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
inline bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

inline std::string describe_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 33 && u < 127) return std::string("'") + c + "'";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", u);
  return buf;
}

inline std::string describe_token(const Token& t) {
  switch (t.kind) {
    case Token::End:
      return "end of line";
    case Token::Ref:
      return "'%" + t.text + "'";
    case Token::String:
      return "a string";
    default:
      return "'" + t.text + "'";
  }
}

inline std::string types_text(const std::vector<Type>& ts) {
  std::string out = "(";
  for (size_t i = 0; i < ts.size(); ++i) out += (i ? ", " : "") + ts[i].str();
  return out + ")";
}

class IrParser {
 public:
  IrParser(std::string_view text, const std::string& filename) : text_(text), filename_(filename) {
    file_ = sm_.add(filename, std::string(text));
  }
  Graph run();

 private:
  [[noreturn]] void fail(uint32_t col, const std::string& msg) const;
  [[noreturn]] void fail_at(const Token& t, const std::string& msg) const { fail(t.col, msg); }

  // Lexing, one line at a time.
  void lex_line(std::string_view line);
  size_t lex_number(std::string_view line, size_t i);
  size_t lex_string(std::string_view line, size_t i);
  void prescan_definitions();

  // Token cursor.
  const Token& peek() const { return toks_[pos_]; }
  Token next() { return pos_ + 1 < toks_.size() ? toks_[pos_++] : toks_.back(); }
  bool accept(char c);
  Token expect(char c, const std::string& context);
  void expect_end();

  // Pieces of a line.
  int64_t int_value(const Token& t) const;
  ValueId parse_ref();
  std::string parse_name(const std::string& what);
  DType parse_dtype_word(const std::string& context);
  Dim parse_dim();
  Shape parse_shape();
  Type parse_type();
  AttrValue parse_attr_value();
  Attrs parse_attrs();
  SourceLoc parse_loc();

  // Lines.
  void parse_line();
  void parse_model();
  void parse_node();
  void parse_loss();
  void parse_wrt();
  void parse_named_result(bool is_grad);

  // Checks on a node before its type rule runs (so a rule never sees a
  // missing or mistyped attribute that it would assume present).
  void check_attrs(const OpInfo& info, const Attrs& attrs, const Token& op_tok) const;
  const Type& leaf_type(const std::string& name, const Token& at) const;

  std::string_view text_;
  std::string filename_;
  SourceManager sm_;
  uint32_t file_ = 0;
  uint32_t line_ = 0;
  std::vector<Token> toks_;
  size_t pos_ = 0;

  Graph g_;
  bool have_model_ = false;
  bool have_loss_ = false;
  bool have_wrt_ = false;
  std::map<int64_t, ValueId> values_;       // number in the text -> node
  std::map<int64_t, uint32_t> defined_on_;  // number in the text -> line defining it
  std::map<std::string, ValueId> leaves_;   // input/param name -> node
};

}  // namespace adjoint::ir_text
