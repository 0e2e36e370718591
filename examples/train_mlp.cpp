// Training examples/mlp.adj on Fashion-MNIST through the C++ API: the same
// loop as `adjc train`, written as a user would. By default one short pass
// (200 minibatches of 64) so the test suite stays fast; `--full` trains five
// epochs. Exits 0 with a message when the data set is not installed.
//
//   example_train_mlp [--full]      (run from the examples folder)
#include <adjoint/adjoint.hpp>
#include <adjoint/idx.hpp>
#include <adjoint/rng.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace {

// The model's inputs, filled in place for every minibatch: a braced list
// {{"x", x}, {"y", y}} in each call would copy the images every time.
adjoint::Inputs batch_inputs() {
  adjoint::Inputs in;
  in.set("x", adjoint::Tensor());
  in.set("y", adjoint::Tensor());
  return in;
}

// Copies rows order[begin, end) of the split into in["x"] and in["y"], keeping
// their buffers while the batch size stays the same.
void batch(const adjoint::LabeledImages& split, const std::vector<int64_t>& order, int64_t begin,
           int64_t end, adjoint::Inputs& in) {
  int64_t n = end - begin, cols = split.images.dim(1);
  adjoint::Tensor &x = in["x"], &y = in["y"];
  if (x.shape() != std::vector<int64_t>{n, cols}) x = adjoint::Tensor::f32({n, cols});
  if (y.shape() != std::vector<int64_t>{n}) y = adjoint::Tensor::i32({n});
  for (int64_t k = 0; k < n; ++k) {
    int64_t r = order[static_cast<size_t>(begin + k)];
    std::memcpy(x.data<float>() + k * cols, split.images.data<float>() + r * cols,
                static_cast<size_t>(cols) * sizeof(float));
    y.data<int32_t>()[k] = split.labels.data<int32_t>()[r];
  }
}

double test_accuracy(const adjoint::Model& m, const adjoint::Params& p,
                     const adjoint::LabeledImages& test) {
  int64_t n = test.images.dim(0), correct = 0;
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  adjoint::Inputs in = batch_inputs();
  for (int64_t begin = 0; begin < n; begin += 1000) {
    int64_t end = std::min(n, begin + 1000);
    batch(test, all, begin, end, in);
    adjoint::Outputs out = m.forward(in, p);
    const float* logits = out["logits"].data<float>();
    for (int64_t k = 0; k < end - begin; ++k) {
      const float* row = logits + k * 10;
      correct += std::max_element(row, row + 10) - row == in["y"].data<int32_t>()[k];
    }
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  bool full = argc > 1 && std::string(argv[1]) == "--full";
  adjoint::Dataset data;
  try {
    data = adjoint::load_fashion_mnist();
  } catch (const adjoint::Error& e) {
    std::printf("skipping: Fashion-MNIST is not installed (%s)\n", e.what());
    return 0;
  }
  try {
    adjoint::Compiler cc;
    adjoint::Model m = cc.compile_file("mlp.adj");
    adjoint::Params p = m.init_params(/*seed=*/0);
    adjoint::OptimizerState state = m.make_optimizer_state();
    adjoint::OptimizerConfig adam;  // Adam, lr 1e-3
    const int64_t n = data.train.images.dim(0), bs = 64;
    const int64_t epochs = full ? 5 : 1, max_batches = full ? (n + bs - 1) / bs : 200;
    adjoint::Inputs in = batch_inputs();
    auto start = std::chrono::steady_clock::now();
    int64_t seen = 0;
    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      // The shuffle of adjc train (seed 0, one stream per epoch), so both
      // print the same accuracies.
      adjoint::Rng rng(/*seed=*/0, adjoint::stream_of("shuffle." + std::to_string(epoch)));
      for (int64_t i = n - 1; i > 0; --i)
        std::swap(order[static_cast<size_t>(i)],
                  order[static_cast<size_t>(rng.next_u64() % static_cast<uint64_t>(i + 1))]);
      double loss = 0;
      int64_t k = 0;
      for (; k < max_batches && k * bs < n; ++k) {
        batch(data.train, order, k * bs, std::min(n, (k + 1) * bs), in);
        loss += m.train_step(in, p, state, adam);
        seen += in["x"].dim(0);
      }
      std::printf("epoch %lld: %lld batches, mean loss %.4f, test accuracy %.2f%%\n",
                  static_cast<long long>(epoch + 1), static_cast<long long>(k),
                  loss / static_cast<double>(k), 100 * test_accuracy(m, p, data.test));
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%lld samples in %.1fs (%.0f samples/s)\n", static_cast<long long>(seen), secs,
                static_cast<double>(seen) / secs);
  } catch (const adjoint::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
