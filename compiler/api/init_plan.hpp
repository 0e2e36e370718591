// How Model::init_params fills each param: the declared initialiser (the
// param node's init, init_a, init_b attributes) with its fan-in and fan-out
// found in the IR graph, as LANGUAGE.md defines them:
//
//   - the first use of the param in a matmul, looking through reshape,
//     flatten and transpose: fan-in is the size the matmul contracts
//     (x @ W with W: [in, out], W @ x or x @ W.T with W: [out, in]), fan-out
//     the operand's other size;
//   - or, if that comes first, its use as a conv2d kernel [K, C, R, S]:
//     fan-in C*R*S, fan-out K*R*S;
//   - otherwise fan-in is the last size (1 for a scalar) and fan-out the
//     first size of a rank >= 2 param, else equal to the fan-in.
//
// The sizes are read from the operand as it enters the matmul or conv2d, so
// a transpose or reshape on the way is accounted for without tracking it.
#pragma once

#include <adjoint/init.hpp>
#include <cstdint>

#include "ir/graph.hpp"

namespace adjoint::api {

// Fan sizes as the shapes give them: numbers, or products of symbolic sizes
// (a param declared f32[D, 10]) that only a call's inputs bind.
struct Fans {
  Dim in = 1, out = 1;
  bool operator==(const Fans&) const = default;
};

// Fans of the param leaf `param` of the IR graph `g`.
Fans fans_of(const Graph& g, ValueId param);

// A param's initialiser. `spec` is complete when the fans are constant;
// otherwise resolved() fills them in from the sizes of the inputs.
struct ParamInit {
  InitSpec spec;
  Fans fans;

  bool has_fans() const;
  // `spec` with the fans evaluated under `sizes`; Error naming a size that
  // `sizes` lacks.
  InitSpec resolved(const DimEnv& sizes) const;
  // "he_normal(fan_in=784)", or with a symbolic fan "he_normal(fan_in=D)".
  std::string describe() const;
};

// The initialiser of the param leaf `param`; Error for an initialiser the
// runtime does not know (sema has already rejected those).
ParamInit param_init_of(const Graph& g, ValueId param);

// The InitSpec of a param whose fans are constant (Error otherwise).
InitSpec init_spec_of(const Graph& g, ValueId param);

}  // namespace adjoint::api
