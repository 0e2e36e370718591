#include "support/diagnostics.hpp"

#include <algorithm>

namespace adjoint {

uint32_t SourceManager::add(std::string name, std::string text) {
  File f{std::move(name), std::move(text), {0}};
  for (size_t i = 0; i < f.text.size(); ++i)
    if (f.text[i] == '\n') f.line_starts.push_back(i + 1);
  files_.push_back(std::move(f));
  return static_cast<uint32_t>(files_.size() - 1);
}

std::string_view SourceManager::line_text(SourceLoc loc) const {
  if (!loc.known() || loc.file >= files_.size()) return {};
  const File& f = files_[loc.file];
  if (loc.line > f.line_starts.size()) return {};
  size_t begin = f.line_starts[loc.line - 1];
  size_t end = f.text.find('\n', begin);
  if (end == std::string::npos) end = f.text.size();
  std::string_view line(f.text.data() + begin, end - begin);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string SourceManager::describe(SourceLoc loc) const {
  if (loc.file >= files_.size()) return "<unknown>";
  if (!loc.known()) return files_[loc.file].name;
  return files_[loc.file].name + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col);
}

void Diagnostics::error(SourceLoc loc, std::string message) {
  ++errors_;
  if (errors_ <= kMaxErrors) emit(loc, "error", message);
  if (errors_ == kMaxErrors + 1) text_ += "note: too many errors; stopping here\n";
}

void Diagnostics::note(SourceLoc loc, std::string message) {
  if (errors_ <= kMaxErrors) emit(loc, "note", message);
}

void Diagnostics::emit(SourceLoc loc, std::string_view kind, const std::string& message) {
  text_ += sm_.describe(loc) + ": " + std::string(kind) + ": " + message + "\n";
  std::string_view line = sm_.line_text(loc);
  if (line.empty()) return;
  // Very long lines (a 1 MB line) are cut around the caret.
  size_t col = loc.col ? loc.col - 1 : 0;
  size_t begin = col > 100 ? col - 100 : 0;
  std::string_view shown = line.substr(std::min(begin, line.size()), 200);
  std::string printable;
  // Control bytes and non-ASCII bytes print as '?', one column each, so the
  // caret stays aligned and the output stays valid text.
  for (char c : shown) {
    auto u = static_cast<unsigned char>(c);
    printable += ((u < 32 && c != '\t') || u >= 127) ? '?' : c;
  }
  text_ += "  " + printable + "\n  ";
  for (size_t i = begin; i < col && i - begin < shown.size(); ++i)
    text_ += shown[i - begin] == '\t' ? '\t' : ' ';
  text_ += "^\n";
}

void Diagnostics::throw_if_errors() const {
  if (has_errors()) throw Error(text_);
}

}  // namespace adjoint
