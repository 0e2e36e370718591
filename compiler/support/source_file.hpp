// Reading a model's source file, for the C++ API and the command line alike.
#pragma once

#include <string>

namespace adjoint {

// The largest model source read: far beyond any real model, and it stops a
// mistaken path (/dev/zero, a data file) from eating memory.
constexpr size_t kMaxSourceBytes = size_t{64} << 20;

// The whole of `path` (a file or a pipe). Throws adjoint::Error naming the
// path when it cannot be opened or read, is a directory, or is larger than
// kMaxSourceBytes.
std::string read_source_file(const std::string& path);

}  // namespace adjoint
