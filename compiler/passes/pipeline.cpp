#include "passes/pipeline.hpp"

#include "ir/verifier.hpp"
#include "passes/cse.hpp"
#include "passes/dce.hpp"
#include "passes/simplify.hpp"

namespace adjoint {

Graph optimize(const Graph& g, const PipelineOptions& options) {
  struct Pass {
    const char* name;
    Graph (*run)(const Graph&);
  };
  static const Pass kPasses[] = {{"simplify", simplify}, {"cse", cse}, {"dce", dce}};
  if (options.verify) verify_or_throw(g, "the input to optimize");
  Graph cur = g;
  for (const Pass& p : kPasses) {
    cur = p.run(cur);
    if (options.verify) verify_or_throw(cur, p.name);
    if (options.after_pass) options.after_pass(p.name, cur);
  }
  return cur;
}

}  // namespace adjoint
