// An on-disk cache of compiled object files, one file per key, so that a
// second process compiling the same model skips the optimiser and codegen.
//
// Entry layout (little-endian), all validated on load:
//   magic "ADJOBJ\r\n" | u32 format version | u32 header bytes |
//   key (32 bytes) | u64 payload bytes | SHA-256 of the payload (32 bytes) |
//   payload (the object file)
// Anything wrong (short file, other version, other key, size or checksum
// mismatch) reads as a miss, and the caller rebuilds and overwrites it.
//
// Writes are atomic: a temporary file in the same directory, fsync, rename.
// Two processes storing the same entry each rename a complete file, so a
// reader sees one whole entry or none. Nothing here throws: a cache that
// cannot be read or written only makes compiles slower.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "jit/sha256.hpp"

namespace adjoint {

// Bump when the entry layout, or anything in how the JIT produces objects
// that the key does not cover (optimiser pipeline, code model), changes.
inline constexpr uint32_t kObjectCacheFormat = 1;

// The directory a cache should use: `configured` if not empty, else
// $XDG_CACHE_HOME/adjoint, else $HOME/.cache/adjoint; nullopt when
// ADJOINT_NO_CACHE is set (to anything but "" or "0") or there is no home.
std::optional<std::string> resolve_cache_dir(const std::string& configured);

class ObjectCache {
 public:
  using Key = Sha256::Digest;
  explicit ObjectCache(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  // Where the entry of `key` lives.
  std::string path_of(const Key& key) const;

  // The object stored under `key`; nullopt when absent. `corrupt` is set
  // when a file was there but failed validation.
  std::optional<std::string> load(const Key& key, bool& corrupt) const;

  // Writes `object` under `key` (creating the directory); false when the
  // directory or file could not be written.
  bool store(const Key& key, std::string_view object) const;

 private:
  std::string dir_;
};

}  // namespace adjoint
