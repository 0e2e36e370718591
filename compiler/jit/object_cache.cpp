#include "jit/object_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

namespace adjoint {

namespace {

constexpr char kMagic[8] = {'A', 'D', 'J', 'O', 'B', 'J', '\r', '\n'};
// magic, version, header bytes, key, payload bytes, payload digest.
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 32 + 8 + 32;

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

std::string header_for(const ObjectCache::Key& key, std::string_view object) {
  std::string h(kMagic, sizeof kMagic);
  put_le(h, kObjectCacheFormat, 4);
  put_le(h, kHeaderBytes, 4);
  h.append(reinterpret_cast<const char*>(key.data()), key.size());
  put_le(h, object.size(), 8);
  Sha256::Digest sum = sha256(object);
  h.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return h;
}

// The whole file, or nullopt when it cannot be opened or read.
std::optional<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::string> out;
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    std::string data(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    while (got < data.size()) {
      ssize_t n = ::read(fd, data.data() + got, data.size() - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got == data.size()) out = std::move(data);
  }
  ::close(fd);
  return out;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A name no other writer (thread or process) picks at the same time.
std::string temp_name(const std::string& final_path) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  return final_path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++) +
         "." + std::to_string(salt);
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

}  // namespace

std::optional<std::string> resolve_cache_dir(const std::string& configured) {
  if (env_set("ADJOINT_NO_CACHE")) return std::nullopt;
  if (!configured.empty()) return configured;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/adjoint";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/adjoint";
  return std::nullopt;
}

std::string ObjectCache::path_of(const Key& key) const { return dir_ + "/" + to_hex(key) + ".o"; }

std::optional<std::string> ObjectCache::load(const Key& key, bool& corrupt) const {
  corrupt = false;
  std::optional<std::string> file = read_file(path_of(key));
  if (!file) return std::nullopt;
  corrupt = true;
  const std::string& f = *file;
  if (f.size() < kHeaderBytes || std::memcmp(f.data(), kMagic, sizeof kMagic) != 0)
    return std::nullopt;
  if (get_le(f.data() + 8, 4) != kObjectCacheFormat || get_le(f.data() + 12, 4) != kHeaderBytes)
    return std::nullopt;
  if (std::memcmp(f.data() + 16, key.data(), key.size()) != 0) return std::nullopt;
  uint64_t size = get_le(f.data() + 48, 8);
  if (size != f.size() - kHeaderBytes) return std::nullopt;
  std::string_view object(f.data() + kHeaderBytes, size);
  Sha256::Digest sum = sha256(object);
  if (std::memcmp(f.data() + 56, sum.data(), sum.size()) != 0) return std::nullopt;
  corrupt = false;
  return std::string(object);
}

bool ObjectCache::store(const Key& key, std::string_view object) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return false;
  std::string final_path = path_of(key);
  std::string tmp = temp_name(final_path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = write_all(fd, header_for(key, object)) && write_all(fd, object) && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  // rename() replaces an existing entry (a corrupt one, or one another
  // process just wrote) in one step.
  if (ok && ::rename(tmp.c_str(), final_path.c_str()) == 0) return true;
  ::unlink(tmp.c_str());
  return false;
}

}  // namespace adjoint
