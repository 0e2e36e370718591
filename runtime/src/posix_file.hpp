// A small RAII wrapper over a POSIX file descriptor, private to the runtime:
// positioned reads that report short reads instead of trusting sizes, and the
// write / fsync / close sequence that atomic file replacement needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace adjoint::detail {

class PosixFile {
 public:
  // Opens a regular file for reading; throws adjoint::Error "PATH: cannot
  // open: REASON" when it is missing, a directory, or unreadable.
  static PosixFile open_read(const std::string& path);
  // Creates (or truncates) `path` for writing; errors name only `shown` (the
  // file the user asked for; `path` is a temporary file of the runtime's).
  static PosixFile create(const std::string& path, const std::string& shown);
  // Opens an existing `path` (a device, a FIFO, /dev/stdout) for writing as it
  // is, appending when `append`.
  static PosixFile open_write(const std::string& path, bool append);

  PosixFile(PosixFile&& other) noexcept;
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;
  PosixFile& operator=(PosixFile&&) = delete;
  ~PosixFile();

  uint64_t size() const { return size_; }
  // Reads exactly n bytes at offset; false (and last_error() says why) on an
  // I/O error or when the file ends first.
  bool read_at(void* buf, uint64_t n, uint64_t offset) const;
  const std::string& last_error() const { return error_; }

  // Writes all n bytes or throws adjoint::Error.
  void write_all(const void* buf, uint64_t n);
  // fsync then close; throws adjoint::Error on either failing.
  void sync_and_close();
  // close alone (for what cannot be fsync'ed); throws adjoint::Error on failure.
  void close();
  void close_quietly();

 private:
  PosixFile(int fd, std::string path, std::string shown)
      : fd_(fd), path_(std::move(path)), shown_(std::move(shown)) {}
  [[noreturn]] void fail(const std::string& what, int err) const;

  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_, shown_;
  mutable std::string error_;
};

// fsync the directory holding `path` so a rename into it is durable; best
// effort (some file systems do not support it, and the data is already safe).
void sync_parent_dir(const std::string& path);

}  // namespace adjoint::detail
