// adjoint::Error: the one exception type for user-facing errors, shared by
// the runtime and the compiler (which re-exports it from its diagnostics).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace adjoint {

// A user-facing error: bad .adj text, API misuse, a malformed or missing file.
// The message is complete and meant to be shown as is (it names the file, the
// tensor, the expected and actual values where there are any).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// The model's text does not compile: the message is the diagnostics, each
// "file:line:col: error: ..." with the source line and a caret.
class CompileError : public Error {
 public:
  explicit CompileError(const std::string& diagnostics) : Error(diagnostics) {}
};

// Memory ran out while allocating `what` (a tensor, a workspace). A user-facing
// Error rather than std::bad_alloc because the sizes nearly always come from
// the user (a dimension, a padding, a --dim value); a caller that knows a name
// for the allocation rethrows with OutOfMemory(bytes, "param 'W' f32[...]").
class OutOfMemory : public Error {
 public:
  OutOfMemory(uint64_t bytes, const std::string& what)
      : Error(message(bytes, what)), bytes_(bytes) {}
  uint64_t bytes() const { return bytes_; }

  // "out of memory (while allocating 4000000000000000 bytes (4.0 PB) for WHAT)"
  static std::string message(uint64_t bytes, const std::string& what);

 private:
  uint64_t bytes_;
};

}  // namespace adjoint
