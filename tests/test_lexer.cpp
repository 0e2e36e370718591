#include <catch2/catch.hpp>

#include "frontend/lexer.hpp"

using namespace adjoint;
using namespace adjoint::frontend;

namespace {

std::vector<Token> lex(const std::string& text) {
  static SourceManager sm;  // tokens point into its buffers, which must outlive them
  uint32_t id = sm.add("lex.adj", text);
  Lexer lexer(sm, id);
  std::vector<Token> out;
  for (Token t = lexer.next();; t = lexer.next()) {
    out.push_back(t);
    if (t.kind == Tok::Eof) break;
  }
  return out;
}

std::vector<Tok> kinds(const std::string& text) {
  std::vector<Tok> out;
  for (const Token& t : lex(text)) out.push_back(t.kind);
  return out;
}

}  // namespace

TEST_CASE("lexer: punctuation, keywords and identifiers", "[frontend]") {
  CHECK(kinds("( ) [ ] , : = + - * / @ ^ .") ==
        std::vector<Tok>{Tok::LParen, Tok::RParen, Tok::LBracket, Tok::RBracket, Tok::Comma,
                         Tok::Colon, Tok::Equal, Tok::Plus, Tok::Minus, Tok::Star, Tok::Slash,
                         Tok::At, Tok::Caret, Tok::Dot, Tok::Eof});
  CHECK(kinds("model input param def minimize wrt output f32 f64 i32 true false") ==
        std::vector<Tok>{Tok::KwModel, Tok::KwInput, Tok::KwParam, Tok::KwDef, Tok::KwMinimize,
                         Tok::KwWrt, Tok::KwOutput, Tok::KwF32, Tok::KwF64, Tok::KwI32, Tok::KwTrue,
                         Tok::KwFalse, Tok::Eof});
  std::vector<Token> ts = lex("_a1 B models f16 T");
  REQUIRE(ts.size() == 6);
  for (size_t i = 0; i < 5; ++i) CHECK(ts[i].kind == Tok::Ident);
  CHECK(ts[0].text == "_a1");
  CHECK(ts[2].text == "models");
}

TEST_CASE("lexer: numbers", "[frontend]") {
  std::vector<Token> ts = lex("1 0.5 1e-3 2.5E+4 .25 007 9223372036854775808");
  REQUIRE(ts.size() == 8);
  CHECK(ts[0].number == 1);
  CHECK(ts[0].is_integer);
  CHECK(ts[0].fits_int64);
  CHECK(ts[0].integer == 1);
  CHECK(ts[1].number == 0.5);
  CHECK_FALSE(ts[1].is_integer);
  CHECK(ts[2].number == Approx(1e-3));
  CHECK_FALSE(ts[2].is_integer);
  CHECK(ts[3].number == 25000);
  CHECK_FALSE(ts[3].is_integer);
  CHECK(ts[4].number == 0.25);
  CHECK(ts[5].integer == 7);
  CHECK(ts[6].is_integer);
  CHECK_FALSE(ts[6].fits_int64);  // too large for a size, still a fine float
  for (size_t i = 0; i < 7; ++i) CHECK(ts[i].kind == Tok::Number);
}

TEST_CASE("lexer: a number glued to letters is one invalid token", "[frontend]") {
  for (const char* bad : {"3x", "2e", "1e+", "1.5abc"}) {
    std::vector<Token> ts = lex(bad);
    INFO(bad);
    REQUIRE(ts.size() >= 2);
    CHECK(ts[0].kind == Tok::Error);
    CHECK(ts[0].message.find("invalid number") != std::string::npos);
  }
  std::vector<Token> big = lex("1e999");
  CHECK(big[0].kind == Tok::Error);
  CHECK(big[0].message.find("out of range") != std::string::npos);
}

TEST_CASE("lexer: '1.T' is the number 1 then .T", "[frontend]") {
  CHECK(kinds("1.T") == std::vector<Tok>{Tok::Number, Tok::Dot, Tok::Ident, Tok::Eof});
  CHECK(kinds("x.T.T") ==
        std::vector<Tok>{Tok::Ident, Tok::Dot, Tok::Ident, Tok::Dot, Tok::Ident, Tok::Eof});
}

TEST_CASE("lexer: comments, newlines and locations", "[frontend]") {
  std::vector<Token> ts = lex("a = 1  # comment ( [\n\n  b\t= x # more\r\nc");
  std::vector<Tok> k;
  for (const Token& t : ts) k.push_back(t.kind);
  CHECK(k == std::vector<Tok>{Tok::Ident, Tok::Equal, Tok::Number, Tok::Newline, Tok::Newline,
                              Tok::Ident, Tok::Equal, Tok::Ident, Tok::Newline, Tok::Ident,
                              Tok::Eof});
  CHECK(ts[0].loc.line == 1);
  CHECK(ts[0].loc.col == 1);
  CHECK(ts[2].loc.col == 5);
  CHECK(ts[3].loc.col == 6);  // a line's end sits just after its last token, not after the comment
  CHECK(ts[5].loc.line == 3);
  CHECK(ts[5].loc.col == 3);
  CHECK(ts[5].first_on_line);
  CHECK_FALSE(ts[6].first_on_line);
  CHECK(ts[7].loc.col == 7);  // a tab is one column
  CHECK(ts[9].loc.line == 4);
}

TEST_CASE("lexer: invalid text becomes one error token per run", "[frontend]") {
  std::vector<Token> ts = lex("a $%? b");
  REQUIRE(ts.size() == 4);
  CHECK(ts[1].kind == Tok::Error);
  CHECK(ts[1].message == "unexpected characters '$%?'");
  CHECK(ts[1].loc.col == 3);
  CHECK(ts[2].text == "b");

  std::vector<Token> nul = lex(std::string("x\0\0y", 4));
  REQUIRE(nul.size() == 4);
  CHECK(nul[1].kind == Tok::Error);
  CHECK(nul[1].message.find("0x00 0x00") != std::string::npos);

  std::vector<Token> utf8 = lex("\xce\xb1 = 1");
  CHECK(utf8[0].kind == Tok::Error);
  CHECK(utf8[0].message.find("ASCII") != std::string::npos);
}

TEST_CASE("lexer: empty input and input without a final newline", "[frontend]") {
  CHECK(kinds("") == std::vector<Tok>{Tok::Eof});
  CHECK(kinds("# only a comment") == std::vector<Tok>{Tok::Eof});
  CHECK(kinds("x") == std::vector<Tok>{Tok::Ident, Tok::Eof});
}

TEST_CASE("lexer: every byte value lexes without getting stuck", "[frontend]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  std::vector<Token> ts = lex(all + all);
  CHECK(ts.back().kind == Tok::Eof);
  CHECK(ts.size() < 200);
}

TEST_CASE("lexer: a 1 MB line", "[frontend]") {
  std::string line;
  while (line.size() < (1 << 20)) line += "x + ";
  std::vector<Token> ts = lex(line);
  CHECK(ts.size() == line.size() / 2 + 1);
  CHECK(ts[ts.size() - 2].loc.col == line.size() - 1);
}
