#include "support/random_program.hpp"

#include <random>
#include <sstream>
#include <vector>

#include "support/gradcheck.hpp"

namespace adjoint::testing {
namespace {

struct Value {
  std::string name;
  Dims shape;
};

std::string shape_text(const Dims& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  RandomProgram run() {
    Dims s0 = {pick(1, 4), pick(1, 4)};
    add_leaf("input", "x", s0);
    if (coin()) add_leaf("param", "p0", s0);
    else add_leaf("param", "p0", {s0[1]});
    int steps = static_cast<int>(pick(3, 8));
    for (int i = 0; i < steps; ++i) step();
    finish();
    return {decls_.str() + body_.str(), leaves_};
  }

 private:
  int64_t pick(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  bool coin() { return pick(0, 1) == 1; }
  const Value& any() { return values_[static_cast<size_t>(pick(0, static_cast<int64_t>(values_.size()) - 1))]; }
  const Value& last() { return values_.back(); }

  void add_leaf(const std::string& kind, const std::string& name, const Dims& shape) {
    decls_ << kind << " " << name << " : f64" << (shape.empty() ? "" : shape_text(shape)) << "\n";
    leaves_[name] = sample(CheckArg{shape, Domain::Real}, rng_);
    values_.push_back({name, shape});
    if (kind == "param") wrt_.push_back(name);
  }

  std::string new_param(const Dims& shape) {
    std::string name = "p" + std::to_string(params_++ + 1);
    add_leaf("param", name, shape);
    return name;
  }

  void bind(const std::string& expr, const Dims& shape) {
    std::string name = "v" + std::to_string(vars_++);
    body_ << name << " = " << expr << "\n";
    values_.push_back({name, shape});
  }

  // A value broadcastable against `s`: an existing one of the same shape, or a
  // new param of the same shape, its last dim, a column, or a scalar.
  std::string partner(const Dims& s) {
    for (int tries = 0; tries < 4; ++tries) {
      const Value& v = any();
      if (v.shape == s) return v.name;
    }
    switch (pick(0, 3)) {
      case 0: return new_param(s);
      case 1: return s.empty() ? new_param(s) : new_param({s.back()});
      case 2: return s.size() == 2 ? new_param({s[0], 1}) : new_param(s);
      default: return new_param({});
    }
  }

  void step() {
    const Value v = coin() ? last() : any();
    const std::string& x = v.name;
    const Dims& s = v.shape;
    switch (pick(0, 11)) {
      case 0: {
        static const char* kSmooth[] = {"tanh", "sigmoid", "softplus", "gelu"};
        bind(std::string(kSmooth[pick(0, 3)]) + "(" + x + ")", s);
        return;
      }
      case 1: bind(std::string(coin() ? "exp" : coin() ? "sin" : "cos") + "(tanh(" + x + "))", s); return;
      case 2: bind(coin() ? "log(softplus(" + x + ") + 0.5)" : "sqrt(sigmoid(" + x + ") + 0.1)", s); return;
      case 3: {
        static const char* kOps[] = {" + ", " - ", " * "};
        bind(x + kOps[pick(0, 2)] + partner(s), s);
        return;
      }
      case 4: bind(x + " / (1.5 + tanh(" + partner(s) + "))", s); return;
      // Bounded arguments: products and powers of unbounded values would make
      // the finite differences themselves meaningless (cos of 10^4).
      case 5: bind(coin() ? "tanh(" + x + ") ^ 2" : "0.5 * tanh(" + x + ") ^ 3", s); return;
      case 6: return matmul(v);
      case 7: return reduce(v);
      case 8:
        if (s.size() == 2) bind((coin() ? "softmax(" : "log_softmax(") + x + ", axis=" +
                                    std::to_string(pick(-2, 1)) + ")", s);
        return;
      case 9:
        if (s.size() == 2) bind(coin() ? x + ".T" : "transpose(" + x + ")", {s[1], s[0]});
        return;
      case 10:
        if (s.size() == 2) bind("reshape(" + x + ", [" + std::to_string(s[1]) + ", -1])", {s[1], s[0]});
        else bind("reshape(" + x + ", [-1])", {product(s)});
        return;
      default:
        if (s.size() == 2) {
          std::string other = new_param({pick(1, 3), s[1]});
          Dims out = {s[0] + leaves_[other].shape[0], s[1]};
          bind("concat(" + x + ", " + other + ", axis=0)", out);
        }
        return;
    }
  }

  void matmul(const Value& v) {
    const Dims& s = v.shape;
    int64_t k = pick(1, 4);
    if (s.size() == 2) {
      if (coin()) bind(v.name + " @ " + new_param({s[1], k}), {s[0], k});
      else bind(new_param({k, s[0]}) + " @ " + v.name, {k, s[1]});
    } else if (s.size() == 1) {
      if (coin()) bind(v.name + " @ " + new_param({s[0], k}), {k});  // [n] @ [n,k]
      else bind(new_param({k, s[0]}) + " @ " + v.name, {k});         // [k,n] @ [n]
    }
  }

  void reduce(const Value& v) {
    const Dims& s = v.shape;
    if (s.empty()) return;
    static const char* kReduce[] = {"sum", "mean", "logsumexp"};
    int64_t axis = pick(-static_cast<int64_t>(s.size()), static_cast<int64_t>(s.size()) - 1);
    bool keep = coin();
    Dims out = s;
    size_t a = static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(s.size()) : axis);
    if (keep) out[a] = 1;
    else out.erase(out.begin() + static_cast<long>(a));
    bind(std::string(kReduce[pick(0, 2)]) + "(" + v.name + ", axis=" + std::to_string(axis) +
             (keep ? ", keepdims=true" : "") + ")",
         out);
  }

  // loss = sum(last * r) + 0.1 * sum(tanh(earlier)): a random projection of
  // the result plus fan-out through an earlier value.
  void finish() {
    const Value& v = last();
    decls_ << "input r : f64" << (v.shape.empty() ? "" : shape_text(v.shape)) << "\n";
    leaves_["r"] = sample(CheckArg{v.shape, Domain::Real}, rng_);
    const Value& w = values_[static_cast<size_t>(pick(0, static_cast<int64_t>(values_.size()) - 1))];
    body_ << "loss = sum(" << v.name << " * r) + 0.1 * sum(tanh(" << w.name << "))\n";
    body_ << "minimize loss wrt x";
    for (const std::string& p : wrt_) body_ << ", " << p;
    body_ << "\n";
  }

  std::mt19937_64 rng_;
  std::ostringstream decls_, body_;
  TensorMap leaves_;
  std::vector<Value> values_;
  std::vector<std::string> wrt_;
  int params_ = 0, vars_ = 0;
};

}  // namespace

RandomProgram random_program(uint64_t seed) { return Generator(seed).run(); }

}  // namespace adjoint::testing
