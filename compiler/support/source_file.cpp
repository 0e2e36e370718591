#include "support/source_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <adjoint/error.hpp>
#include <cerrno>
#include <cstring>

namespace adjoint {

namespace {

[[noreturn]] void cannot_read(const std::string& path, const std::string& why) {
  throw Error("cannot read '" + path + "': " + why);
}

// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() { ::close(fd); }
};

}  // namespace

std::string read_source_file(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) cannot_read(path, std::strerror(errno));
  // A directory opens fine and reads as nothing on some systems: say what it is.
  struct stat st;
  if (::fstat(f.fd, &st) == 0 && S_ISDIR(st.st_mode)) cannot_read(path, "is a directory");
  std::string text;
  char buf[1 << 16];
  for (;;) {  // in chunks, stopping one chunk past the cap (a pipe has no size)
    ssize_t got = ::read(f.fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) cannot_read(path, std::strerror(errno));
    if (got == 0) return text;
    text.append(buf, static_cast<size_t>(got));
    if (text.size() > kMaxSourceBytes)
      throw Error("'" + path + "' is larger than 64 MiB; is it a model?");
  }
}

}  // namespace adjoint
