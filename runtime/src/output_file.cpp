// write_file_atomically and output_path_problem (adjoint/output_file.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <adjoint/error.hpp>
#include <adjoint/output_file.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

#include "posix_file.hpp"

namespace adjoint {
namespace {

std::string in_quotes(const std::string& path) { return "'" + path + "'"; }

// The directory part of `path`: "." for a bare name.
std::string parent_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// Where `path` leads through any chain of symbolic links (a relative link is
// read against the link's own directory). The final target need not exist.
std::string final_target(const std::string& path) {
  std::string at = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st;
    if (::lstat(at.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return at;
    char buf[PATH_MAX];
    ssize_t n = ::readlink(at.c_str(), buf, sizeof buf - 1);
    if (n <= 0) return at;
    std::string link(buf, static_cast<size_t>(n));
    at = link[0] == '/' ? link : parent_of(at) + "/" + link;
  }
  throw Error("cannot write " + in_quotes(path) + ": too many levels of symbolic links");
}

// Why `path` cannot be written, or "".
std::string problem(const std::string& path) {
  if (path.empty()) return "the output file name is empty";
  struct stat st;
  if (::stat(path.c_str(), &st) == 0)
    return S_ISDIR(st.st_mode) ? in_quotes(path) + " is a directory, not a file" : "";
  std::string dir = parent_of(final_target(path));  // a dangling link makes its target
  if (::stat(dir.c_str(), &st) != 0)
    return "cannot write " + in_quotes(path) + ": the directory " + in_quotes(dir) +
           " does not exist";
  if (!S_ISDIR(st.st_mode))
    return "cannot write " + in_quotes(path) + ": " + in_quotes(dir) + " is not a directory";
  return "";
}

// Written in place: what is not a regular file (a device, a FIFO: renaming
// over it would replace the node), and the process's own descriptors such as
// /dev/stdout redirected to a file (renaming would replace that file behind
// the shell's back; appending is what the redirection asked for).
bool is_descriptor(const std::string& path) {
  return path == "/dev/stdout" || path == "/dev/stderr" || path.rfind("/dev/fd/", 0) == 0 ||
         path.rfind("/proc/", 0) == 0;
}

// The file a rename must replace: an existing one's real path (through any
// symbolic links), or where a new file, or a dangling link's target, goes.
std::string replace_target(const std::string& path, bool exists) {
  if (!exists) return final_target(path);
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}

void write_parts(detail::PosixFile& f, const std::vector<std::string_view>& parts) {
  for (std::string_view p : parts) f.write_all(p.data(), p.size());
}

// A device, a FIFO or a descriptor: written as it is, without a temporary
// file and without fsync (which devices and FIFOs refuse).
void write_in_place(const std::string& path, bool append,
                    const std::vector<std::string_view>& parts) {
  detail::PosixFile f = detail::PosixFile::open_write(path, append);
  write_parts(f, parts);
  f.close();
}

// A regular file or a new one: a temporary file next to it, flushed, renamed.
void replace(const std::string& path, const std::string& target,
             const std::vector<std::string_view>& parts) {
  const std::string tmp = target + ".tmp." + std::to_string(::getpid());
  RemoveOnSignal guard(tmp);  // before the file exists, so no instant is missed
  detail::PosixFile f = detail::PosixFile::create(tmp, path);
  try {
    write_parts(f, parts);
    f.sync_and_close();
    if (::rename(tmp.c_str(), target.c_str()) != 0)
      throw Error("cannot write " + in_quotes(path) +
                  ": cannot rename the new file into place: " + std::strerror(errno));
  } catch (...) {
    f.close_quietly();
    ::unlink(tmp.c_str());
    throw;
  }
  detail::sync_parent_dir(target);
}

}  // namespace

std::string output_path_problem(const std::string& path) { return problem(path); }

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& parts) {
  if (std::string why = problem(path); !why.empty()) throw Error(why);
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && (!S_ISREG(st.st_mode) || is_descriptor(path)))
    write_in_place(path, S_ISREG(st.st_mode), parts);
  else
    replace(path, replace_target(path, exists), parts);
}

}  // namespace adjoint
