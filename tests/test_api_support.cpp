// Helpers for the API and CLI tests (see test_api_support.hpp); no test cases.
#include "test_api_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "frontend/frontend.hpp"
#include "stages.hpp"

namespace adjoint::apitest {

DTensor to_dtensor(const Tensor& t) {
  DTensor d(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) {
    size_t k = static_cast<size_t>(i);
    switch (t.dtype()) {
      case ElemType::f32:
        d[k] = t.data<float>()[i];
        break;
      case ElemType::f64:
        d[k] = t.data<double>()[i];
        break;
      case ElemType::i32:
        d[k] = t.data<int32_t>()[i];
        break;
    }
  }
  return d;
}

Tensor to_tensor(const DTensor& d, ElemType type) {
  Tensor t = Tensor::zeros(type, d.shape);
  for (size_t i = 0; i < d.size(); ++i) {
    switch (type) {
      case ElemType::f32:
        t.data<float>()[i] = static_cast<float>(d[i]);
        break;
      case ElemType::f64:
        t.data<double>()[i] = d[i];
        break;
      case ElemType::i32:
        t.data<int32_t>()[i] = static_cast<int32_t>(d[i]);
        break;
    }
  }
  return t;
}

TensorMap to_map(const NamedTensors& ts, const std::string& prefix) {
  TensorMap out;
  for (const auto& [name, t] : ts) out[prefix + name] = to_dtensor(t);
  return out;
}

std::string example_text(const std::string& name) {
  std::ifstream in(std::filesystem::path(ADJOINT_SOURCE_DIR) / "examples" / name);
  if (!in) throw std::runtime_error("cannot read example " + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Inputs random_inputs(const Model& m, int64_t size, uint64_t seed, int64_t index_bound) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::uniform_int_distribution<int64_t> ix(0, index_bound - 1);
  Inputs in;
  for (const TensorInfo& info : m.inputs()) {
    std::vector<int64_t> shape;
    for (const std::string& d : info.dims)
      shape.push_back(std::isdigit(static_cast<unsigned char>(d[0])) ? std::stoll(d) : size);
    DTensor t(shape);
    for (double& x : t.data)
      x = info.dtype == ElemType::i32 ? static_cast<double>(ix(rng))
                                      : static_cast<double>(static_cast<float>(u(rng)));
    in.set(info.name, to_tensor(t, info.dtype));
  }
  return in;
}

TensorMap reference_results(const std::string& text, const Inputs& inputs, const Params& params) {
  SourceManager sm;
  Diagnostics diags(sm);
  std::optional<Graph> ir = compile_source(sm, sm.add("ref.adj", text), diags);
  if (!ir) throw std::runtime_error(diags.text());
  TensorMap leaves = to_map(inputs);
  for (auto& [name, t] : to_map(params)) leaves[name] = t;
  return evaluate_results(differentiate(*ir), leaves);
}

std::string temp_dir(const std::string& tag) {
  static int counter = 0;
  namespace fs = std::filesystem;
  fs::path p = fs::temp_directory_path() /
               ("adjoint_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

AdjcRun run_adjc(const std::vector<std::string>& args) {
  // Where adjc's output is captured; removed when the test program exits.
  struct CaptureDir {
    std::string path = temp_dir("adjc_run");
    ~CaptureDir() { std::filesystem::remove_all(path); }
  };
  static const CaptureDir capture;
  std::string cmd = std::string("'") + ADJC_PATH + "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  std::string out = capture.path + "/out.txt", err = capture.path + "/err.txt";
  int raw = std::system((cmd + " >'" + out + "' 2>'" + err + "'").c_str());
  AdjcRun r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace adjoint::apitest
