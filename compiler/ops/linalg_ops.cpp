#include "ops/rules.hpp"

namespace adjoint {

void define_linalg_ops(OpTableBuilder&) {}

}  // namespace adjoint
