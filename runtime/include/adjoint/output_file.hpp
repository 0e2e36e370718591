// Writing an output file so that a failed or interrupted run never leaves a
// half-written one, and never replaces something that is not a plain file.
//
//   adjoint::write_file_atomically("out.safetensors", {header, data});
//
// A regular file (or a new one) is replaced through a temporary file next to
// it: written, flushed to disk, then renamed over the target. A symbolic link
// is followed to its final target, which is replaced, so the link survives.
// Anything else that exists, a device (/dev/null) or a FIFO, is written in
// place: renaming over it would replace the device node itself. So are the
// process's descriptors (/dev/stdout, /dev/fd/N, /proc/...), appended to when
// they are redirected to a file. A directory, a missing parent directory or
// an empty name is an error. Error messages name the path asked for, never
// the temporary file.
//
// While a temporary file exists, SIGINT, SIGTERM and SIGHUP remove it before
// the process ends the way the signal would have ended it. The handlers are
// installed only over the default disposition (a program's own handler, or an
// ignored signal, is left alone) and only while a temporary file is open.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace adjoint {

// Writes the concatenation of `parts` to `path` as described above; throws
// adjoint::Error, and leaves an existing regular file untouched, on failure.
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& parts);

// Why `path` cannot be written ("'out' is a directory", "the directory 'x'
// does not exist"), or "" when it looks writable: for checking an output
// before a long run, such as training, that would write it at the end.
std::string output_path_problem(const std::string& path);

// While alive, a SIGINT, SIGTERM or SIGHUP removes `path` first (for a
// temporary file that is not written through write_file_atomically, such as
// one handed to another program). At most 16 paths are guarded at once; more
// are simply not removed on a signal.
class RemoveOnSignal {
 public:
  explicit RemoveOnSignal(const std::string& path);
  ~RemoveOnSignal();
  RemoveOnSignal(const RemoveOnSignal&) = delete;
  RemoveOnSignal& operator=(const RemoveOnSignal&) = delete;

 private:
  int slot_;
};

}  // namespace adjoint
