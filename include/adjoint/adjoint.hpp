// The Adjoint C++ API: compile a network written in the .adj language into
// native code in this process, and call its fused gradient function.
//
//   #include <adjoint/adjoint.hpp>
//
//   adjoint::Compiler cc;                                    // owns the JIT
//   adjoint::Model m = cc.compile_file("examples/mlp.adj");  // throws adjoint::Error
//   adjoint::Params p = m.init_params(/*seed=*/1);
//   adjoint::Grads  g = m.make_grads();
//   double loss = m.grad({{"x", x}, {"y", y}}, p, g);        // one fused call
//   adjoint::Outputs out = m.forward({{"x", x}}, p);         // out["logits"]
//
// Every call validates everything before it runs: each input and param must
// be present, known, of the declared element type (nothing is converted),
// rank and sizes; a symbolic size (B) must have one value across all
// tensors; grads must have the wrt tensors' shapes; class labels and gather
// indices must lie in range. A problem is an adjoint::Error whose message
// names the tensor and both shapes (or the values), and nothing is written.
//
// This header includes nothing of LLVM or of the compiler's internals.
#pragma once

#include <adjoint/error.hpp>
#include <adjoint/tensor.hpp>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace adjoint {

// Tensors by name, in a fixed order: the model's declaration order for what
// a model makes (params, grads, outputs), insertion order otherwise. Lookup
// never inserts: operator[] of a missing name throws adjoint::Error.
class NamedTensors {
 public:
  using Entry = std::pair<const std::string, Tensor>;

  // One {"x", x} of a braced list: refers to x only until the list is taken.
  struct Item {
    Item(std::string n, const Tensor& t) : name(std::move(n)), tensor(&t) {}
    std::string name;
    const Tensor* tensor;
  };

  NamedTensors() = default;
  // {{"x", x}, {"y", y}}: copies each tensor once (a view stays a view, so
  // Tensor::view avoids the copy; so does keeping one Inputs and filling
  // its tensors in place between calls).
  NamedTensors(std::initializer_list<Item> items);
  // Takes the tensors of a map (e.g. read_safetensors(...).tensors), in name order.
  explicit NamedTensors(std::map<std::string, Tensor> tensors);

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  // Null when there is no tensor of that name.
  Tensor* find(const std::string& name);
  const Tensor* find(const std::string& name) const;
  // The tensor of that name; adjoint::Error (listing the names) when missing.
  Tensor& operator[](const std::string& name);
  const Tensor& operator[](const std::string& name) const;
  // Replaces the tensor of that name in place, or appends it.
  void set(const std::string& name, Tensor t);
  std::vector<std::string> names() const;

  auto begin() { return entries_.begin(); }
  auto end() { return entries_.end(); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }

 private:
  std::vector<Entry> entries_;
};

using Inputs = NamedTensors;   // what a call reads besides the params
using Params = NamedTensors;   // trainable tensors, in declaration order
using Grads = NamedTensors;    // one per `wrt` tensor, in `wrt` order
using Outputs = NamedTensors;  // each `output`, then "loss" if the model has one
// Values of symbolic sizes by name, {{"D", 784}}: for params declared with a
// size that the inputs bind (f32[D, 10]), which must be known to make them.
using Sizes = std::map<std::string, int64_t>;

// A declared tensor: an input, a param or an output.
struct TensorInfo {
  std::string name;
  ElemType dtype = ElemType::f32;
  std::vector<std::string> dims;  // each size as written: "784", "B" (outputs: also "B*16")
  std::string type;               // "f32[B,784]" ("f32" for a scalar)

  // True when no size is symbolic.
  bool is_fixed() const;
  // The sizes of a fixed shape; adjoint::Error when one is symbolic.
  std::vector<int64_t> fixed_shape() const;
};

// Hyperparameters of Model::train_step (PyTorch semantics, see abi.h).
struct OptimizerConfig {
  enum class Kind { sgd, adam };
  Kind kind = Kind::adam;
  double lr = 1e-3;
  double momentum = 0.0;                          // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam
};

// What an optimiser carries between steps: the number of updates done and
// two buffers per param, "opt.m.NAME" and "opt.v.NAME" (momentum / first and
// second moments), each shaped like the param. An empty state is filled with
// zeros by the first train_step.
struct OptimizerState {
  int64_t step = 0;
  NamedTensors buffers;
};

class Compiler;
namespace api {
struct ModelAccess;  // the compiler's internal view of a Model (its benchmark's raw calls)
}

// A compiled network. Calls are const and may come from several threads
// (they share one workspace, so they take turns). A Model keeps the JIT
// memory its code lives in alive, even after its Compiler is gone.
class Model {
 public:
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  // --- what the model declares
  const std::string& name() const;  // `model NAME`, or the file's stem
  ElemType float_type() const;
  bool has_loss() const;                           // false without `minimize`
  const std::vector<TensorInfo>& inputs() const;   // declaration order
  const std::vector<TensorInfo>& params() const;   // declaration order
  const std::vector<TensorInfo>& outputs() const;  // `output` order; the loss is not one
  const std::vector<std::string>& wrt() const;     // what grad() differentiates, in order
  std::vector<std::string> input_names() const;
  std::vector<std::string> param_names() const;
  std::vector<std::string> output_names() const;
  std::vector<std::string> size_symbols() const;  // symbolic sizes of the inputs ("B")
  // The input or param of that name; adjoint::Error when there is none.
  const TensorInfo& info(const std::string& name) const;
  // How init_params fills a param, e.g. "he_normal(fan_in=784)".
  std::string init_description(const std::string& param) const;

  // --- making tensors
  // Every param, filled by its declared initialiser (fans as LANGUAGE.md
  // defines them), the same bits for the same seed on every machine; each
  // param draws from its own stream (its name), so adding one leaves the
  // others as they were. A param with a symbolic size (f32[D, 10]) needs
  // its value in `sizes`; adjoint::Error names a missing one.
  Params init_params(uint64_t seed) const;
  Params init_params(uint64_t seed, const Sizes& sizes) const;
  // Zeros shaped like each wrt tensor. A wrt tensor with a symbolic size
  // (an input, or a param sized by an input's symbol) needs the inputs to fix
  // it: make_grads(inputs).
  Grads make_grads() const;
  Grads make_grads(const Inputs& inputs) const;

  // --- calls
  // The loss, and the gradient of the loss w.r.t. each wrt tensor written
  // into `grads` (overwritten, not accumulated), in one fused native call.
  // adjoint::Error, with nothing written, on any misuse (see the top).
  double grad(const Inputs& inputs, const Params& params, Grads& grads) const;
  // Each output (freshly allocated), then "loss" if the model has one.
  Outputs forward(const Inputs& inputs, const Params& params) const;
  // One fused native call: the loss and gradients as grad() computes them,
  // then an in-place update of every wrt param (wrt inputs are left alone)
  // and of `state`. Returns the loss before the update. Validated like
  // grad(), plus the state's buffers and the hyperparameters.
  double train_step(const Inputs& inputs, Params& params, OptimizerState& state,
                    const OptimizerConfig& config) const;
  // Zeros for every optimiser buffer (what an empty state becomes), shaped
  // like the declared params, or like `params` (needed when a param's size
  // is symbolic).
  OptimizerState make_optimizer_state() const;
  OptimizerState make_optimizer_state(const Params& params) const;

  // Bytes of the one workspace a call on these inputs uses (the memory
  // plan's size for their symbolic sizes); the calls allocate nothing else.
  int64_t workspace_bytes(const Inputs& inputs) const;

 private:
  friend class Compiler;
  friend struct api::ModelAccess;
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// How a Compiler compiles.
struct CompileOptions {
  // Keep compiled objects on disk and reuse them in later processes: keyed
  // by a hash of the generated code, the options and the CPU, in
  // `cache_dir`, or "$XDG_CACHE_HOME/adjoint" (~/.cache/adjoint) when empty.
  bool cache = true;
  std::string cache_dir;
};

// Compiles .adj programs into Models; owns the JIT that their code shares.
class Compiler {
 public:
  Compiler();
  explicit Compiler(const CompileOptions& options);
  Compiler(Compiler&&) noexcept;
  Compiler& operator=(Compiler&&) noexcept;
  ~Compiler();

  // adjoint::Error with the full diagnostics (file:line:col, the source line
  // and a caret) for a program with errors, or naming the file it cannot read.
  Model compile_file(const std::string& path);
  // `name` stands for the file in diagnostics and gives the default model name.
  Model compile_string(const std::string& text, const std::string& name = "<string>");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Threads that every Model's calls use (one pool per process); n <= 0 means
// every core, the default. Results are the same bits for every count.
void set_num_threads(int n);
int num_threads();

}  // namespace adjoint
