// IDX readers over zlib's gz* interface, which reads gzip and plain files
// alike. Sizes from a header are checked for sanity and data is read in
// chunks, so a corrupt header cannot trigger a huge allocation.
#include "adjoint/idx.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace adjoint {

namespace {

constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 32;  // 4 GiB: far beyond any real data set
constexpr size_t kChunk = size_t{16} << 20;

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      fail("cannot open: not a regular file");
    }
    gz_ = gzdopen(fd, "rb");
    if (!gz_) {
      ::close(fd);
      fail("cannot open: out of memory in zlib");
    }
    gzbuffer(gz_, 1u << 17);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() {
    if (gz_) gzclose(gz_);
  }

  [[noreturn]] void fail(const std::string& message) const { throw Error(path_ + ": " + message); }

  // Reads exactly n bytes of `what`, or fails saying how the file ended.
  void read_exact(void* buf, size_t n, const std::string& what) {
    auto* p = static_cast<char*>(buf);
    size_t done = 0;
    while (done < n) {
      unsigned want = static_cast<unsigned>(std::min<size_t>(n - done, INT_MAX));
      int got = gzread(gz_, p + done, want);
      if (got < 0) fail("corrupt data while reading " + what + ": " + zlib_error());
      if (got == 0) {
        int err = Z_OK;
        gzerror(gz_, &err);
        std::string why = err != Z_OK ? " (" + zlib_error() + ")" : "";
        fail("truncated: the file ends inside " + what + why);
      }
      done += static_cast<size_t>(got);
    }
  }

  uint32_t read_be32(const std::string& what) {
    unsigned char b[4];
    read_exact(b, 4, what);
    return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
  }

  // After the last byte the header promised: the file must end here (which
  // is also when zlib verifies the gzip checksum).
  void expect_end(uint64_t data_bytes) {
    char c;
    int got = gzread(gz_, &c, 1);
    if (got < 0) fail("corrupt data at the end of the file: " + zlib_error());
    // zlib reports a gzip stream cut short (e.g. in its trailer) as a soft
    // error: a read of 0 bytes with Z_BUF_ERROR pending.
    int err = Z_OK;
    gzerror(gz_, &err);
    if (got == 0 && err != Z_OK) fail("truncated or corrupt gzip stream: " + zlib_error());
    if (got > 0)
      fail("the file holds more than the " + std::to_string(data_bytes) +
           " data bytes its dimensions say (corrupt header?)");
  }

 private:
  std::string zlib_error() {
    int err = Z_OK;
    const char* msg = gzerror(gz_, &err);
    if (err == Z_ERRNO) return std::strerror(errno);
    return msg && *msg ? msg : "zlib error " + std::to_string(err);
  }

  std::string path_;
  gzFile gz_ = nullptr;
};

// Reads the magic number and dimensions, checking the type byte and rank.
std::vector<int64_t> read_header(GzReader& r, int rank, const char* kind) {
  const uint32_t magic = r.read_be32("the magic number");
  const uint32_t want = 0x00000800u | static_cast<uint32_t>(rank);
  if (magic != want) {
    std::string hint;
    if (magic == 0x00000801u) hint = " (an IDX label file)";
    if (magic == 0x00000803u) hint = " (an IDX image file)";
    if ((magic >> 16) == 0x8b1fu || (magic >> 16) == 0x1f8bu) hint = " (gzip data inside gzip?)";
    r.fail("bad magic number " + hex32(magic) + hint + "; an IDX file of " + kind +
           " starts with " + hex32(want));
  }
  std::vector<int64_t> dims;
  uint64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    dims.push_back(r.read_be32("the dimensions"));
    total *=
        static_cast<uint64_t>(dims.back());  // each < 2^32; checked below before it can overflow
    if (total > kMaxIdxBytes)
      r.fail("dimensions " + shape_string(dims) +
             " claim more than 4 GiB of data (corrupt header?)");
  }
  return dims;
}

std::vector<uint8_t> read_bytes(GzReader& r, uint64_t n) {
  std::vector<uint8_t> data;
  // Grown chunk by chunk: a truncated file with a large header never
  // allocates more than it holds plus one chunk.
  for (uint64_t done = 0; done < n;) {
    size_t step = static_cast<size_t>(std::min<uint64_t>(n - done, kChunk));
    data.resize(static_cast<size_t>(done) + step);
    r.read_exact(data.data() + done, step, "the data (" + std::to_string(n) + " bytes expected)");
    done += step;
  }
  r.expect_end(n);
  return data;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  GzReader r(path);
  std::vector<int64_t> d = read_header(r, 3, "images");
  if (d[1] == 0 || d[2] == 0)
    r.fail("images of size " + std::to_string(d[1]) + "x" + std::to_string(d[2]));
  IdxImages out;
  out.count = d[0];
  out.rows = d[1];
  out.cols = d[2];
  out.pixels = read_bytes(r, static_cast<uint64_t>(d[0] * d[1] * d[2]));
  return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  GzReader r(path);
  std::vector<int64_t> d = read_header(r, 1, "labels");
  return read_bytes(r, static_cast<uint64_t>(d[0]));
}

namespace {

// `dir/base.gz` if it exists, else `dir/base`; "" when neither does.
std::string find_file(const std::string& dir, const std::string& base) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const std::string& name : {base + ".gz", base}) {
    fs::path p = fs::path(dir) / name;
    if (fs::exists(p, ec)) return p.string();
  }
  return "";
}

LabeledImages load_split(const std::string& images_path, const std::string& labels_path,
                         int32_t classes, int64_t& rows, int64_t& cols) {
  IdxImages img = read_idx_images(images_path);
  // Nothing to train on or to measure with: an error, not a 0% accuracy.
  if (img.count == 0)
    throw Error(images_path + ": holds no images (a data set split must not be empty)");
  std::vector<uint8_t> lab = read_idx_labels(labels_path);
  if (static_cast<int64_t>(lab.size()) != img.count)
    throw Error(labels_path + ": " + std::to_string(lab.size()) + " labels, but " + images_path +
                " holds " + std::to_string(img.count) + " images");
  if (rows != 0 && (img.rows != rows || img.cols != cols))
    throw Error(images_path + ": images of " + std::to_string(img.rows) + "x" +
                std::to_string(img.cols) + ", but the other split's are " + std::to_string(rows) +
                "x" + std::to_string(cols));
  rows = img.rows;
  cols = img.cols;

  LabeledImages out;
  out.images = Tensor::f32({img.count, img.rows * img.cols});
  float* x = out.images.data<float>();
  for (size_t i = 0; i < img.pixels.size(); ++i) x[i] = static_cast<float>(img.pixels[i]) / 255.0f;
  out.labels = Tensor::i32({img.count});
  int32_t* y = out.labels.data<int32_t>();
  for (size_t i = 0; i < lab.size(); ++i) {
    if (lab[i] >= classes)
      throw Error(labels_path + ": label " + std::to_string(lab[i]) + " at index " +
                  std::to_string(i) + " is not below the " + std::to_string(classes) +
                  " classes of this data set");
    y[i] = lab[i];
  }
  return out;
}

Dataset load_with_hint(const std::string& dir, int32_t classes, const std::string& missing_hint) {
  const char* bases[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  std::string paths[4];
  for (int i = 0; i < 4; ++i) {
    paths[i] = find_file(dir, bases[i]);
    if (paths[i].empty())
      throw Error(dir + ": no " + bases[i] + ".gz (or " + bases[i] + ") found" + missing_hint);
  }
  Dataset d;
  d.classes = classes;
  d.train = load_split(paths[0], paths[1], classes, d.rows, d.cols);
  d.test = load_split(paths[2], paths[3], classes, d.rows, d.cols);
  return d;
}

}  // namespace

Dataset load_idx_dataset(const std::string& dir, int32_t classes) {
  if (classes <= 0) throw Error("load_idx_dataset: the number of classes must be positive");
  return load_with_hint(dir, classes, "");
}

Dataset load_fashion_mnist(const std::string& dir) {
  return load_with_hint(dir, 10,
                        "; Fashion-MNIST is in the Debian package dataset-fashion-mnist "
                        "(apt-get install dataset-fashion-mnist), which puts it in " +
                            std::string(kFashionMnistDir));
}

}  // namespace adjoint
