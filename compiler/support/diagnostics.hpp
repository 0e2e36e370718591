// Source locations, the source manager and user-facing diagnostics.
//
// Every user error ends up as `file:line:col: error: message`, followed by the
// source line and a caret under the column. Compiler bugs are assertions, not
// diagnostics.
#pragma once

#include <adjoint/error.hpp>  // adjoint::Error, shared with the runtime
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace adjoint {

// Position in a source buffer. line and col are 1-based; line 0 means "unknown".
struct SourceLoc {
  uint32_t file = 0;
  uint32_t line = 0;
  uint32_t col = 0;
  bool known() const { return line != 0; }
  bool operator==(const SourceLoc&) const = default;
};

// Owns the text of every buffer the compiler has read, so locations can be
// turned back into `file:line:col` and a caret line.
class SourceManager {
 public:
  uint32_t add(std::string name, std::string text);
  const std::string& name(uint32_t file) const { return files_.at(file).name; }
  const std::string& text(uint32_t file) const { return files_.at(file).text; }
  std::string_view line_text(SourceLoc loc) const;
  // "file:line:col" (or just "file" when the location is unknown).
  std::string describe(SourceLoc loc) const;

 private:
  struct File {
    std::string name, text;
    std::vector<size_t> line_starts;
  };
  std::vector<File> files_;
};

// Collects errors so one run can report several independent ones.
class Diagnostics {
 public:
  explicit Diagnostics(const SourceManager& sm) : sm_(sm) {}
  void error(SourceLoc loc, std::string message);
  void note(SourceLoc loc, std::string message);
  bool has_errors() const { return errors_ > 0; }
  int error_count() const { return errors_; }
  // Every message so far, formatted with source lines and carets.
  const std::string& text() const { return text_; }
  // Throws adjoint::Error with the collected text if there were errors.
  void throw_if_errors() const;
  // Errors beyond this many are dropped (with a final note), so a binary file
  // does not produce megabytes of output.
  static constexpr int kMaxErrors = 50;

 private:
  void emit(SourceLoc loc, std::string_view kind, const std::string& message);
  const SourceManager& sm_;
  std::string text_;
  int errors_ = 0;
};

}  // namespace adjoint
