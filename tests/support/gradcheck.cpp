#include "support/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autodiff/reverse_mode.hpp"
#include "ir/builder.hpp"

namespace adjoint::testing {

namespace {

double loss_at(const Graph& forward, const TensorMap& leaves) {
  std::vector<DTensor> v = evaluate(forward, leaves);
  return v[static_cast<size_t>(*forward.loss)][0];
}

double finite_difference(const Graph& forward, TensorMap& leaves, const std::string& name,
                         size_t i, double h) {
  double& x = leaves[name].data[i];
  const double x0 = x;
  auto at = [&](double dx) {
    x = x0 + dx;
    return loss_at(forward, leaves);
  };
  double d = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h);
  x = x0;
  return d;
}

}  // namespace

GradCheckResult check_gradients(const Graph& forward, const TensorMap& leaves,
                                const GradCheckOptions& opts) {
  GradCheckResult r;
  Graph with_grads = reverse_mode(forward);
  TensorMap results = evaluate_results(with_grads, leaves);
  TensorMap work = leaves;
  std::ostringstream report;
  int shown = 0;
  for (const NamedValue& g : with_grads.grads) {
    const DTensor& ad = results.at("grad." + g.name);
    if (ad.shape != leaves.at(g.name).shape) {
      r.ok = false;
      report << "grad." << g.name << " has shape " << dims_str(ad.shape) << ", leaf has "
             << dims_str(leaves.at(g.name).shape) << "\n";
      continue;
    }
    size_t stride = 1;
    if (opts.max_per_tensor > 0 && static_cast<int64_t>(ad.size()) > opts.max_per_tensor)
      stride = (ad.size() + static_cast<size_t>(opts.max_per_tensor) - 1) /
               static_cast<size_t>(opts.max_per_tensor);
    for (size_t i = 0; i < ad.size(); i += stride) {
      double fd = finite_difference(forward, work, g.name, i, opts.step);
      double err = std::fabs(ad[i] - fd);
      double allowed = opts.atol + opts.rtol * std::max(std::fabs(ad[i]), std::fabs(fd));
      r.max_error = std::max(r.max_error, err / allowed * opts.rtol);
      ++r.elements;
      if (!(err <= allowed)) {  // also catches NaN
        r.ok = false;
        if (shown++ < 8)
          report << "grad." << g.name << "[" << i << "]: reverse mode " << ad[i]
                 << ", finite differences " << fd << "\n";
      }
    }
  }
  r.report = report.str();
  return r;
}

DTensor sample(const CheckArg& arg, std::mt19937_64& rng) {
  DTensor t(arg.shape);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  switch (arg.domain) {
    case Domain::Real:
      for (double& x : t.data) x = -2 + 4 * u(rng);
      break;
    case Domain::Positive:
      for (double& x : t.data) x = 0.5 + 1.5 * u(rng);
      break;
    case Domain::NonZero:
      for (double& x : t.data) x = (u(rng) < 0.5 ? -1 : 1) * (0.2 + 1.8 * u(rng));
      break;
    case Domain::Distinct: {
      // A shuffled grid with spacing 0.1 plus small jitter: no two values within 0.05,
      // offset per call so values in different tensors differ too.
      std::vector<double> grid(t.size());
      double offset = 0.05 * std::floor(u(rng) * 2) + 0.013 * u(rng);
      for (size_t i = 0; i < grid.size(); ++i) grid[i] = 0.1 * static_cast<double>(i) + offset;
      std::shuffle(grid.begin(), grid.end(), rng);
      double center = 0.05 * static_cast<double>(grid.size());
      for (size_t i = 0; i < grid.size(); ++i) t[i] = grid[i] - center + 0.02 * u(rng);
      break;
    }
    case Domain::Index: {
      std::uniform_int_distribution<int64_t> ix(0, std::max<int64_t>(arg.bound, 1) - 1);
      for (double& x : t.data) x = static_cast<double>(ix(rng));
      break;
    }
  }
  return t;
}

namespace {

// The exclusive upper bound an i32 leaf must respect, from its first use.
int64_t index_bound(const Graph& g, ValueId leaf, const DimEnv& sizes) {
  for (const Node& n : g.nodes) {
    if (n.op == OpKind::softmax_cross_entropy && n.args[1] == leaf)
      return g.type(n.args[0]).shape.back().eval(sizes);
    if (n.op == OpKind::gather && n.args[1] == leaf)
      return g.type(n.args[0]).shape.front().eval(sizes);
    if (n.op == OpKind::one_hot && n.args[0] == leaf) return n.attrs.get_int("depth");
  }
  return 2;
}

}  // namespace

TensorMap random_leaves(const Graph& g, const DimEnv& sizes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TensorMap leaves;
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    if (!is_leaf(n.op)) continue;
    CheckArg arg{eval_shape(n.type.shape, sizes), Domain::Real};
    if (n.type.dtype == DType::i32) {
      arg.domain = Domain::Index;
      arg.bound = index_bound(g, v, sizes);
    }
    DTensor t = sample(arg, rng);
    if (arg.domain == Domain::Real)
      for (double& x : t.data) x *= 0.5;
    leaves[n.attrs.get_str("name")] = std::move(t);
  }
  return leaves;
}

GradCheckResult check_op_case(OpKind op, const CheckCase& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Graph g;
  g.model = "check_" + op_name(op);
  g.float_type = DType::f64;
  Builder b(g);
  TensorMap leaves;
  std::vector<ValueId> args;
  for (size_t i = 0; i < c.args.size(); ++i) {
    const CheckArg& a = c.args[i];
    std::string name = "a" + std::to_string(i);
    Shape shape(a.shape.begin(), a.shape.end());
    bool index = a.domain == Domain::Index;
    args.push_back(b.make(OpKind::input, {},
                          Attrs{{"name", name}, {"dtype", index ? "i32" : "f64"}, {"shape", shape}}));
    leaves[name] = sample(a, rng);
    if (!index) g.wrt.push_back(name);
  }
  ValueId y = b.make(op, args, c.attrs);
  Shape out = g.type(y).shape;
  ValueId r = b.make(OpKind::input, {}, Attrs{{"name", "r"}, {"dtype", "f64"}, {"shape", out}});
  leaves["r"] = sample(CheckArg{eval_shape(out, {}), Domain::Real}, rng);
  g.loss = b.make(OpKind::sum, {b.mul(y, r)});
  return check_gradients(g, leaves);
}

}  // namespace adjoint::testing
