// SHA-256 (FIPS 180-4), for the object cache's keys and checksums: a cache
// key must not collide by accident across every model a user ever compiles,
// and 256 bits of a standard hash settle that without a dependency.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace adjoint {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The digest of everything given; the object must not be updated after.
  Digest finish();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t used_ = 0;    // bytes waiting in buf_
  uint64_t total_ = 0;  // bytes given so far
};

Sha256::Digest sha256(std::string_view data);

// Lower-case hex, two digits a byte.
std::string to_hex(const Sha256::Digest& d);

}  // namespace adjoint
