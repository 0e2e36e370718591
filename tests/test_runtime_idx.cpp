// IDX readers and the Fashion-MNIST loader: small files written here (gzip
// through zlib, and plain), corrupt ones of every kind, and, when the Debian
// package dataset-fashion-mnist is installed, the real data set.
#include <unistd.h>
#include <zlib.h>

#include <adjoint/idx.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "support/temp_dir.hpp"

using namespace adjoint;
namespace fs = std::filesystem;

namespace {

using adjoint::testing::TempDir;

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// An IDX file's bytes: magic, dimensions, data.
std::string idx(uint32_t magic, std::vector<uint32_t> dims, const std::string& data) {
  std::string s = be32(magic);
  for (uint32_t d : dims) s += be32(d);
  return s + data;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 % 256);
  return s;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// Removes first: ext4 flushes a file truncated and rewritten in place on
// close, which makes hundreds of rewrites take seconds.
void write_plain(const std::string& path, const std::string& bytes) {
  fs::remove(path);
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("IDX images and labels read from gzip and plain files", "[runtime]") {
  TempDir dir("idx_ok");
  const std::string pixels = pattern(5 * 3 * 4);
  write_gz(dir.file("img.gz"), idx(0x803, {5, 3, 4}, pixels));
  IdxImages im = read_idx_images(dir.file("img.gz"));
  CHECK(im.count == 5);
  CHECK(im.rows == 3);
  CHECK(im.cols == 4);
  CHECK(std::string(im.pixels.begin(), im.pixels.end()) == pixels);

  write_plain(dir.file("lab"), idx(0x801, {4}, std::string("\x01\x02\x09\x00", 4)));
  CHECK(read_idx_labels(dir.file("lab")) == std::vector<uint8_t>{1, 2, 9, 0});

  write_gz(dir.file("none.gz"), idx(0x801, {0}, ""));
  CHECK(read_idx_labels(dir.file("none.gz")).empty());
}

TEST_CASE("corrupt IDX files give clear errors naming the file", "[runtime]") {
  TempDir dir("idx_bad");
  const std::string path = dir.file("bad.gz");
  auto images_error = [&](const std::string& bytes) -> std::string {
    write_gz(path, bytes);
    try {
      read_idx_images(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  using Catch::Contains;
  CHECK_THAT(images_error(idx(0x801, {4}, "abcd")),
             Contains(path) && Contains("an IDX label file"));
  CHECK_THAT(images_error(idx(0x802, {4, 4}, pattern(16))),
             Contains("bad magic number 0x00000802"));
  CHECK_THAT(images_error(idx(0x0d03, {1, 1, 1}, "x")), Contains("bad magic"));
  CHECK_THAT(images_error(""), Contains("truncated") && Contains("magic"));
  CHECK_THAT(images_error(idx(0x803, {2, 3}, "")), Contains("truncated") && Contains("dimensions"));
  CHECK_THAT(images_error(idx(0x803, {2, 3, 4}, pattern(23))),
             Contains("truncated") && Contains("24 bytes"));
  CHECK_THAT(images_error(idx(0x803, {2, 3, 4}, pattern(25))), Contains("more than the 24"));
  CHECK_THAT(images_error(idx(0x803, {65536, 65536, 2}, "")), Contains("4 GiB"));
  CHECK_THAT(images_error(idx(0x803, {4294967295u, 4294967295u, 4294967295u}, "")),
             Contains("4 GiB"));
  CHECK_THAT(images_error(idx(0x803, {2, 0, 4}, "")), Contains("0x4"));
  // A header that promises a lot, with little data: an error, not a 4 GiB allocation.
  CHECK_THAT(images_error(idx(0x803, {60000, 256, 256}, pattern(100))), Contains("truncated"));

  CHECK_THROWS_WITH(read_idx_labels(dir.file("missing.gz")),
                    Contains("missing.gz: cannot open") && Contains("No such file"));
  CHECK_THROWS_WITH(read_idx_labels(dir.path.string()), Contains("not a regular file"));
}

TEST_CASE("every truncation and a bad checksum of a gzip IDX file fail cleanly", "[runtime]") {
  TempDir dir("idx_gz");
  const std::string good = dir.file("good.gz"), path = dir.file("cut.gz");
  write_gz(good, idx(0x803, {10, 8, 8}, pattern(640)));
  const std::string bytes = slurp(good);
  for (size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n << " of " << bytes.size() << " bytes");
    write_plain(path, bytes.substr(0, n));
    CHECK_THROWS_AS(read_idx_images(path), Error);
  }
  // The gzip trailer's CRC-32 (bytes -8..-5) no longer matches the data.
  std::string bad = bytes;
  bad[bad.size() - 8] ^= 0x55;
  write_plain(path, bad);
  CHECK_THROWS_WITH(read_idx_images(path), Catch::Contains("corrupt"));
}

TEST_CASE("an IDX data set loads as f32 images in [0,1] and i32 labels", "[runtime]") {
  TempDir dir("idx_set");
  auto file = [&](const char* base) { return dir.file(std::string(base) + ".gz"); };
  write_gz(file("train-images-idx3-ubyte"),
           idx(0x803, {3, 2, 2}, std::string("\x00\xff\x80\x01", 4) + pattern(8)));
  write_gz(file("train-labels-idx1-ubyte"), idx(0x801, {3}, std::string("\x00\x09\x04", 3)));
  write_plain(dir.file("t10k-images-idx3-ubyte"),
              idx(0x803, {1, 2, 2}, pattern(4)));  // not compressed
  write_gz(file("t10k-labels-idx1-ubyte"), idx(0x801, {1}, "\x07"));

  Dataset d = load_fashion_mnist(dir.path.string());
  CHECK(d.rows == 2);
  CHECK(d.cols == 2);
  CHECK(d.classes == 10);
  CHECK(d.train.images.shape() == std::vector<int64_t>{3, 4});
  CHECK(d.train.images.dtype() == ElemType::f32);
  CHECK(d.train.images.data<float>()[0] == 0.0f);
  CHECK(d.train.images.data<float>()[1] == 1.0f);
  CHECK(d.train.images.data<float>()[2] == 128.0f / 255.0f);
  CHECK(d.train.labels.shape() == std::vector<int64_t>{3});
  CHECK(d.train.labels.data<int32_t>()[1] == 9);
  CHECK(d.test.images.shape() == std::vector<int64_t>{1, 4});
  CHECK(d.test.labels.data<int32_t>()[0] == 7);

  CHECK_THROWS_WITH(load_idx_dataset(dir.path.string(), 8),
                    Catch::Contains("train-labels") && Catch::Contains("label 9 at index 1"));

  write_gz(file("t10k-labels-idx1-ubyte"), idx(0x801, {2}, "\x01\x02"));
  CHECK_THROWS_WITH(load_fashion_mnist(dir.path.string()), Catch::Contains("2 labels, but"));
  write_gz(file("t10k-labels-idx1-ubyte"), idx(0x801, {1}, "\x01"));
  write_plain(dir.file("t10k-images-idx3-ubyte"), idx(0x803, {1, 1, 4}, pattern(4)));
  CHECK_THROWS_WITH(load_fashion_mnist(dir.path.string()), Catch::Contains("other split"));

  fs::remove(file("train-labels-idx1-ubyte"));
  CHECK_THROWS_WITH(
      load_fashion_mnist(dir.path.string()),
      Catch::Contains("train-labels-idx1-ubyte") && Catch::Contains("dataset-fashion-mnist"));
  CHECK_THROWS_WITH(load_fashion_mnist(dir.file("nowhere")),
                    Catch::Contains("apt-get install dataset-fashion-mnist"));
}

TEST_CASE("an IDX data set with an empty split is an error naming the file", "[runtime]") {
  TempDir dir("idx_empty");
  auto split = [&](const char* prefix, uint32_t n) {
    std::string p(prefix);
    write_plain(dir.file(p + "-images-idx3-ubyte"), idx(0x803, {n, 2, 2}, pattern(4 * n)));
    write_plain(dir.file(p + "-labels-idx1-ubyte"), idx(0x801, {n}, std::string(n, '\x01')));
  };
  split("train", 2);
  split("t10k", 0);
  CHECK_THROWS_WITH(load_idx_dataset(dir.path.string(), 10),
                    Catch::Contains("t10k-images-idx3-ubyte") && Catch::Contains("no images"));
  split("train", 0);
  split("t10k", 1);
  CHECK_THROWS_WITH(load_idx_dataset(dir.path.string(), 10),
                    Catch::Contains("train-images-idx3-ubyte") && Catch::Contains("no images"));
}

TEST_CASE("the installed Fashion-MNIST data set loads", "[runtime][fashion-mnist]") {
  if (!fs::exists(kFashionMnistDir)) {
    WARN("skipped: " << kFashionMnistDir << " is absent (Debian package dataset-fashion-mnist)");
    return;
  }
  Dataset d = load_fashion_mnist();
  CHECK(d.train.images.shape() == std::vector<int64_t>{60000, 784});
  CHECK(d.train.labels.shape() == std::vector<int64_t>{60000});
  CHECK(d.test.images.shape() == std::vector<int64_t>{10000, 784});
  CHECK(d.test.labels.shape() == std::vector<int64_t>{10000});
  int counts[10] = {};
  for (int64_t i = 0; i < 60000; ++i) {
    int32_t y = d.train.labels.data<int32_t>()[i];
    REQUIRE((y >= 0 && y < 10));
    ++counts[y];
  }
  for (int c : counts) CHECK(c == 6000);  // Fashion-MNIST is balanced
  const float* x = d.test.images.data<float>();
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < d.test.images.numel(); ++i)
    lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
}
