// adjoint::Error: the one exception type for user-facing errors, shared by
// the runtime and the compiler (which re-exports it from its diagnostics).
#pragma once

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

}  // namespace adjoint
