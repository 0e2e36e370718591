// A first Adjoint program: learn XOR with plain gradient descent.
//
// The network is examples/xor.adj (2-8-1, tanh then sigmoid, mean squared
// error). Each step makes one fused native call that computes the loss and
// every gradient; the update is ordinary C++ over the tensors.
//
//   build/examples/example_xor [path/to/xor.adj]
//
// Exits 0 once the loss is below 0.01, 1 if it never gets there.
#include <adjoint/adjoint.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  // ctest runs this in examples/; from the repository root it is examples/xor.adj.
  std::string path = argc > 1 ? argv[1] : "xor.adj";
  if (argc == 1 && !std::filesystem::exists(path)) path = "examples/xor.adj";

  try {
    adjoint::Compiler cc;
    adjoint::Model m = cc.compile_file(path);

    // The four XOR cases: a batch of B = 4 rows.
    adjoint::Tensor x = adjoint::Tensor::f32({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
    adjoint::Tensor t = adjoint::Tensor::f32({4, 1}, {0, 1, 1, 0});

    adjoint::Params p = m.init_params(/*seed=*/1);
    adjoint::Grads g = m.make_grads();
    const float learning_rate = 1.0f;

    for (int step = 0; step <= 20000; ++step) {
      double loss = m.grad({{"x", x}, {"t", t}}, p, g);
      if (step % 25 == 0 || loss < 0.01) std::printf("step %5d  loss %.6f\n", step, loss);
      if (loss < 0.01) {
        adjoint::Outputs out = m.forward({{"x", x}, {"t", t}}, p);
        const float* y = out["y"].data<float>();
        for (int i = 0; i < 4; ++i)
          std::printf("  %g xor %g -> %.3f\n", x.data<float>()[2 * i], x.data<float>()[2 * i + 1],
                      y[i]);
        return 0;
      }
      // Plain SGD: p -= learning_rate * dloss/dp, for every param.
      for (auto& [name, param] : p) {
        float* w = param.data<float>();
        const float* dw = g[name].data<float>();
        for (int64_t i = 0; i < param.numel(); ++i) w[i] -= learning_rate * dw[i];
      }
    }
    std::printf("did not converge\n");
    return 1;
  } catch (const adjoint::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
