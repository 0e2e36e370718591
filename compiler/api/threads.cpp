#include <adjoint/adjoint.hpp>
#include <adjoint/parallel.h>

namespace adjoint {

void set_num_threads(int n) { adj_set_num_threads(n); }
int num_threads() { return adj_num_threads(); }

}  // namespace adjoint
