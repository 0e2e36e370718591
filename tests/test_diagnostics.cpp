// Diagnostics tests: every tests/diagnostics/*.adj file carries its expected
// errors as comments, and compiling it must report exactly those.
//
//   a = x $ 2      # expected-error@7 {{unexpected character}}
//   # expected-error@+1:5 {{...}}     (an error on the next line, column 5)
//
// An annotation names the column and a substring of the message; the line is
// the comment's own line (or +N/-N from it). Errors nobody expected fail the
// test, and so do expected errors that were not reported. A file whose
// `# requires: a, b` names builtins that the op table does not have yet is
// skipped with a warning.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "frontend/frontend.hpp"
#include "ops/op_table.hpp"

using namespace adjoint;

namespace {

struct Expected {
  uint32_t line = 0, col = 0;
  std::string text;
  bool seen = false;
};

struct Reported {
  uint32_t line = 0, col = 0;
  std::string message;
};

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  return lines;
}

// Every `expected-error@[+N:|-N:]COL {{text}}` of the file.
std::vector<Expected> parse_expectations(const std::string& source) {
  std::vector<Expected> out;
  std::vector<std::string> lines = split_lines(source);
  const std::string tag = "expected-error@";
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    for (size_t at = l.find(tag); at != std::string::npos; at = l.find(tag, at + 1)) {
      size_t p = at + tag.size();
      int64_t line = static_cast<int64_t>(i) + 1;
      if (l[p] == '+' || l[p] == '-') {
        size_t colon = l.find(':', p);
        line += std::stoll(l.substr(p, colon - p));
        p = colon + 1;
      }
      size_t open = l.find("{{", p), close = l.find("}}", p);
      REQUIRE(open != std::string::npos);
      REQUIRE(close != std::string::npos);
      Expected e;
      e.line = static_cast<uint32_t>(line);
      e.col = static_cast<uint32_t>(std::stoul(l.substr(p, open - p)));
      e.text = l.substr(open + 2, close - open - 2);
      out.push_back(e);
    }
  }
  return out;
}

// The `NAME:LINE:COL: error: MESSAGE` lines of the diagnostics' text. An
// error line of any other shape (another file, no location) is kept with
// line 0, so it can only count as unexpected.
std::vector<Reported> parse_reported(const std::string& text, const std::string& name) {
  std::vector<Reported> out;
  for (const std::string& l : split_lines(text)) {
    size_t err = l.find(": error: ");
    if (err == std::string::npos || l.rfind("  ", 0) == 0)
      continue;  // not an error, or a source line
    Reported r{0, 0, l};
    unsigned line = 0, col = 0;
    std::string where = l.substr(0, err);
    if (where.rfind(name + ":", 0) == 0 &&
        std::sscanf(where.c_str() + name.size() + 1, "%u:%u", &line, &col) == 2) {
      r = {line, col, l.substr(err + 9)};
    }
    out.push_back(r);
  }
  return out;
}

// Builtins named by `# requires:` that the op table cannot provide yet.
std::vector<std::string> missing_builtins(const std::string& source) {
  std::vector<std::string> missing;
  for (const std::string& l : split_lines(source)) {
    size_t at = l.find("# requires:");
    if (at == std::string::npos) continue;
    std::stringstream names(l.substr(at + 11));
    for (std::string n; std::getline(names, n, ',');) {
      n.erase(std::remove(n.begin(), n.end(), ' '), n.end());
      bool incomplete = std::any_of(
          op_table_problems().begin(), op_table_problems().end(),
          [&](const std::string& p) { return p.find("'" + n + "'") != std::string::npos; });
      if (!builtin_by_name(n) || incomplete) missing.push_back(n);
    }
  }
  return missing;
}

std::vector<std::filesystem::path> diagnostics_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(ADJOINT_SOURCE_DIR "/tests/diagnostics"))
    if (e.path().extension() == ".adj") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Checks one file; returns how many expectations it holds.
size_t check_file(const std::filesystem::path& path) {
  std::string source = read_file(path);
  std::string name = "tests/diagnostics/" + path.filename().string();
  SourceManager sm;
  uint32_t id = sm.add(name, source);
  Diagnostics diags(sm);
  std::optional<Graph> g = compile_source(sm, id, diags);
  std::vector<Expected> expected = parse_expectations(source);
  std::vector<Reported> reported = parse_reported(diags.text(), name);
  INFO("compiling " << name << ":\n" << diags.text());
  CHECK_FALSE(g.has_value());
  CHECK(static_cast<size_t>(diags.error_count()) == reported.size());
  for (const Reported& r : reported) {
    auto match = std::find_if(expected.begin(), expected.end(), [&](const Expected& e) {
      return !e.seen && e.line == r.line && e.col == r.col &&
             r.message.find(e.text) != std::string::npos;
    });
    if (match == expected.end()) {
      FAIL_CHECK("unexpected error at " << r.line << ":" << r.col << ": " << r.message);
    } else {
      match->seen = true;
    }
  }
  for (const Expected& e : expected)
    if (!e.seen)
      FAIL_CHECK("missing error at " << e.line << ":" << e.col << ": {{" << e.text << "}}");
  return expected.size();
}

}  // namespace

TEST_CASE("diagnostics files report exactly their expected errors", "[diagnostics]") {
  size_t total = 0, files = 0;
  for (const auto& path : diagnostics_files()) {
    std::vector<std::string> missing = missing_builtins(read_file(path));
    if (!missing.empty()) {
      WARN("skipping " << path.filename().string() << ": builtin '" << missing[0]
                       << "' is not in the op table yet");
      continue;
    }
    SECTION(path.filename().string()) { total += check_file(path); }
    ++files;
  }
  CHECK(files >= 6);
}

TEST_CASE("the diagnostics files cover at least 35 distinct errors", "[diagnostics]") {
  size_t total = 0;
  for (const auto& path : diagnostics_files()) total += parse_expectations(read_file(path)).size();
  CHECK(total >= 35);
}

TEST_CASE("several independent errors in one file are all reported, in order", "[diagnostics]") {
  SourceManager sm;
  uint32_t id = sm.add("three.adj",
                       "input x : f32[4]\n"
                       "a = x + nope\n"
                       "b = relu(x, x)\n"
                       "c = a + b\n"  // both poisoned: silent
                       "d = x ^ x\n");
  Diagnostics diags(sm);
  CHECK_FALSE(compile_source(sm, id, diags));
  CHECK(diags.error_count() == 3);
  std::vector<Reported> r = parse_reported(diags.text(), "three.adj");
  REQUIRE(r.size() == 3);
  CHECK(r[0].line == 2);
  CHECK(r[1].line == 3);
  CHECK(r[2].line == 5);
}

TEST_CASE("an error in a def body points at the body, with a note at each call", "[diagnostics]") {
  SourceManager sm;
  uint32_t id = sm.add("def.adj",
                       "input x : f32[4]\n"
                       "input z : f32[3]\n"
                       "def m(a, b) = a @ b\n"
                       "def outer(a, b) = m(a, b) + 1\n"
                       "y = outer(x, z)\n");
  Diagnostics diags(sm);
  CHECK_FALSE(compile_source(sm, id, diags));
  CHECK(diags.error_count() == 1);
  const std::string& t = diags.text();
  INFO(t);
  CHECK(t.find("def.adj:3:17: error: '@' needs matching inner sizes: f32[4] @ f32[3] (4 != 3)") !=
        std::string::npos);
  size_t inner = t.find("def.adj:4:19: note: in the call to 'm' here");
  size_t outer = t.find("def.adj:5:5: note: in the call to 'outer' here");
  CHECK(inner != std::string::npos);
  CHECK(outer != std::string::npos);
  CHECK(inner < outer);
}

TEST_CASE("diagnostics show the source line and a caret", "[diagnostics]") {
  SourceManager sm;
  uint32_t id = sm.add("mlp.adj",
                       "input x : f32[B, 784]\n"
                       "param W : f32[128, 10]\n"
                       "logits = x @ W\n");
  Diagnostics diags(sm);
  CHECK_FALSE(compile_source(sm, id, diags));
  CHECK(
      diags.text() ==
      "mlp.adj:3:12: error: '@' needs matching inner sizes: f32[B,784] @ f32[128,10] (784 != 128)\n"
      "  logits = x @ W\n"
      "             ^\n");
}
