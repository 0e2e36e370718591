// Readers for the IDX format of MNIST and Fashion-MNIST, gzip-compressed or
// not (zlib reads both), and a loader for the whole Fashion-MNIST data set.
//
//   adjoint::Dataset d = adjoint::load_fashion_mnist();
//   // d.train.images: f32[60000, 784] in [0, 1]; d.train.labels: i32[60000]
//
// IDX: a big-endian magic number 0x000008DD (0x08: unsigned bytes, DD: the
// number of dimensions), one big-endian uint32 per dimension, then the bytes
// in row-major order. Labels have one dimension (0x00000801), images three
// (0x00000803: count, rows, cols).
//
// A file that cannot be read, has the wrong magic number, absurd sizes (more
// than 4 GiB of data), fewer or more bytes than its dimensions say, or a
// corrupt gzip stream gives an adjoint::Error that starts with the file name;
// never a crash, and a truncated file never makes the reader allocate what its
// header claims.
#pragma once

#include <adjoint/tensor.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace adjoint {

struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols bytes, row-major
};

// An IDX image file (magic 0x00000803); rows and cols are at least 1.
IdxImages read_idx_images(const std::string& path);
// An IDX label file (magic 0x00000801).
std::vector<uint8_t> read_idx_labels(const std::string& path);

// One split of a labelled image data set, ready for a model.
struct LabeledImages {
  Tensor images;  // f32 [N, rows * cols], pixels scaled to [0, 1]
  Tensor labels;  // i32 [N], each in [0, classes)
};

struct Dataset {
  LabeledImages train, test;
  int64_t rows = 0, cols = 0;
  int32_t classes = 0;
};

// Where Debian's package dataset-fashion-mnist installs the data set.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Loads a data set laid out as MNIST is: train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte
// in `dir`, each optionally with a .gz suffix. Checks that images and labels
// agree in count, that neither split is empty, that both splits have the same
// image size, and that every label is below `classes`.
Dataset load_idx_dataset(const std::string& dir, int32_t classes);

// Fashion-MNIST (60000 training and 10000 test images of 28x28, 10 classes).
// When a file is missing, the error says to install the Debian package
// dataset-fashion-mnist.
Dataset load_fashion_mnist(const std::string& dir = kFashionMnistDir);

}  // namespace adjoint
