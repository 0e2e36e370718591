#include "posix_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "adjoint/error.hpp"

namespace adjoint::detail {

PosixFile PosixFile::open_read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  PosixFile f(fd, path, path);
  struct stat st;
  if (::fstat(fd, &st) != 0) f.fail("cannot stat", errno);
  if (S_ISDIR(st.st_mode)) throw Error(path + ": cannot open: it is a directory");
  if (!S_ISREG(st.st_mode)) throw Error(path + ": cannot open: not a regular file");
  f.size_ = static_cast<uint64_t>(st.st_size);
  return f;
}

PosixFile PosixFile::create(const std::string& path, const std::string& shown) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(shown + ": cannot create: " + std::strerror(errno));
  return PosixFile(fd, path, shown);
}

PosixFile PosixFile::open_write(const std::string& path, bool append) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | (append ? O_APPEND : 0));
  if (fd < 0) throw Error(path + ": cannot open for writing: " + std::strerror(errno));
  return PosixFile(fd, path, path);
}

PosixFile::PosixFile(PosixFile&& other) noexcept
    : fd_(other.fd_),
      size_(other.size_),
      path_(std::move(other.path_)),
      shown_(std::move(other.shown_)) {
  other.fd_ = -1;
}

PosixFile::~PosixFile() { close_quietly(); }

void PosixFile::fail(const std::string& what, int err) const {
  throw Error(shown_ + ": " + what + ": " + std::strerror(err));
}

bool PosixFile::read_at(void* buf, uint64_t n, uint64_t offset) const {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    size_t chunk = n > (1u << 30) ? (1u << 30) : static_cast<size_t>(n);
    ssize_t got = ::pread(fd_, p, chunk, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      error_ = std::strerror(errno);
      return false;
    }
    if (got == 0) {
      error_ = "unexpected end of file (was it changed while being read?)";
      return false;
    }
    p += got;
    n -= static_cast<uint64_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return true;
}

void PosixFile::write_all(const void* buf, uint64_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    size_t chunk = n > (1u << 30) ? (1u << 30) : static_cast<size_t>(n);
    ssize_t put = ::write(fd_, p, chunk);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) fail("cannot write", put < 0 ? errno : EIO);
    p += put;
    n -= static_cast<uint64_t>(put);
  }
}

void PosixFile::sync_and_close() {
  if (::fsync(fd_) != 0) fail("cannot flush to disk", errno);
  close();
}

void PosixFile::close() {
  int fd = fd_;
  fd_ = -1;
  // A failing close can report a deferred write error (e.g. on NFS).
  if (::close(fd) != 0) fail("cannot close", errno);
}

void PosixFile::close_quietly() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void sync_parent_dir(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace adjoint::detail
