#include "support/native_check.hpp"

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

}  // namespace adjoint::testing
