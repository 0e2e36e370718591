#include "support/native_check.hpp"

#include <adjoint/adjoint.hpp>
#include <cmath>
#include <random>
#include <sstream>

#include "ir/builder.hpp"
#include "support/gradcheck.hpp"

namespace adjoint::testing {

OpGraph op_check_graph(OpKind op, const CheckCase& c, DType ft, uint64_t seed) {
  std::mt19937_64 rng(seed);
  OpGraph out;
  Graph& g = out.graph;
  g.model = "check_" + op_name(op);
  g.float_type = ft;
  Builder b(g);
  auto round = [ft](DTensor t) {
    if (ft == DType::f32)
      for (double& x : t.data) x = static_cast<double>(static_cast<float>(x));
    return t;
  };
  std::vector<ValueId> args;
  for (size_t i = 0; i < c.args.size(); ++i) {
    const CheckArg& a = c.args[i];
    std::string name = "a" + std::to_string(i);
    Shape shape(a.shape.begin(), a.shape.end());
    bool index = a.domain == Domain::Index;
    const char* dtype = index ? "i32" : dtype_name(ft);
    args.push_back(
        b.make(OpKind::input, {}, Attrs{{"name", name}, {"dtype", dtype}, {"shape", shape}}));
    out.leaves[name] = round(sample(a, rng));
    if (!index) g.wrt.push_back(name);
  }
  ValueId y = b.make(op, args, c.attrs);
  Shape shape = g.type(y).shape;
  ValueId r =
      b.make(OpKind::input, {}, Attrs{{"name", "r"}, {"dtype", dtype_name(ft)}, {"shape", shape}});
  out.leaves["r"] = round(sample(CheckArg{eval_shape(shape, {}), Domain::Real}, rng));
  g.loss = b.make(OpKind::sum, {b.mul(y, r)});
  g.outputs.push_back({"y", y});
  return out;
}

Comparison compare_results(const TensorMap& native, const TensorMap& ref, double rtol) {
  Comparison c;
  std::ostringstream report;
  int shown = 0;
  auto fail = [&](const std::string& what) {
    c.ok = false;
    if (shown++ < 8) report << what << "\n";
  };
  for (const auto& [name, want] : ref) {
    auto it = native.find(name);
    if (it == native.end()) {
      fail(name + ": missing from the native results");
      continue;
    }
    const DTensor& got = it->second;
    if (got.shape != want.shape) {
      fail(name + ": shape " + dims_str(got.shape) + ", reference " + dims_str(want.shape));
      continue;
    }
    for (size_t i = 0; i < want.size(); ++i) {
      double err = std::fabs(got[i] - want[i]) / (1 + std::fabs(want[i]));
      bool same_nan = std::isnan(got[i]) && std::isnan(want[i]);
      bool same_inf = std::isinf(want[i]) && got[i] == want[i];
      if (same_nan || same_inf) continue;
      if (!(err <= rtol)) {  // also catches NaN
        std::ostringstream m;
        m.precision(17);
        m << name << "[" << i << "]: native " << got[i] << ", reference " << want[i];
        fail(m.str());
      }
      if (err > c.worst) c.worst = err;
    }
  }
  c.report = report.str();
  return c;
}

Graph single_op_graph(const std::string& model, OpKind op, const std::vector<Shape>& shapes,
                      const Attrs& attrs, DType ft) {
  Graph g;
  g.model = model;
  g.float_type = ft;
  Builder b(g);
  std::vector<ValueId> args;
  for (size_t i = 0; i < shapes.size(); ++i)
    args.push_back(b.make(
        OpKind::input, {},
        Attrs{{"name", "a" + std::to_string(i)}, {"dtype", dtype_name(ft)}, {"shape", shapes[i]}}));
  g.outputs.push_back({"y", b.make(op, args, attrs)});
  return g;
}

TensorMap single_op_leaves(const std::vector<Shape>& shapes, DType ft, int64_t n,
                           std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1, 1);
  TensorMap leaves;
  for (size_t i = 0; i < shapes.size(); ++i) {
    DTensor t(eval_shape(shapes[i], {{"B", n}}));
    for (double& v : t.data) v = ft == DType::f32 ? static_cast<float>(u(rng)) : u(rng);
    leaves["a" + std::to_string(i)] = t;
  }
  return leaves;
}

std::string thread_count_difference(const std::function<TensorMap()>& run) {
  std::vector<TensorMap> results;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    if (num_threads() != threads) {
      set_num_threads(0);
      return "the pool did not take " + std::to_string(threads) + " threads";
    }
    results.push_back(run());
  }
  set_num_threads(0);
  for (size_t r = 1; r < results.size(); ++r)
    for (const auto& [name, t] : results[0]) {
      auto it = results[r].find(name);
      if (it == results[r].end() || it->second.data != t.data)
        return name + " differs at " + std::to_string(r + 1) + " threads from 1";
    }
  return "";
}

}  // namespace adjoint::testing
