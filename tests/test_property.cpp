// Property test: seeded random well-typed programs, each compiled from text,
// differentiated, and checked against finite differences; the optimised
// gradient graph must give the same gradients as the unoptimised one.
#include <catch2/catch.hpp>

#include <cmath>

#include "frontend/frontend.hpp"
#include "stages.hpp"
#include "support/gradcheck.hpp"
#include "support/random_program.hpp"

using namespace adjoint;
using namespace adjoint::testing;

namespace {

Graph compile_text(const std::string& text) {
  SourceManager sm;
  uint32_t file = sm.add("random.adj", text);
  Diagnostics d(sm);
  auto g = compile_source(sm, file, d);
  INFO(text << d.text());
  REQUIRE(g);
  REQUIRE_FALSE(d.has_errors());
  return *g;
}

}  // namespace

TEST_CASE("random programs: reverse mode matches finite differences", "[property]") {
  const int kPrograms = 300;
  int elements = 0;
  for (int seed = 1; seed <= kPrograms; ++seed) {
    RandomProgram p = random_program(static_cast<uint64_t>(seed));
    Graph g = compile_text(p.text);
    GradCheckResult r = check_gradients(g, p.leaves);
    INFO("seed " << seed << "\n" << p.text << r.report);
    REQUIRE(r.ok);
    elements += static_cast<int>(r.elements);

    // The optimiser must not change any result.
    StagedGraphs s = run_pipeline(g);
    TensorMap plain = evaluate_results(s.grad, p.leaves);
    TensorMap opt = evaluate_results(s.opt, p.leaves);
    for (const auto& [name, t] : plain) {
      const DTensor& o = opt.at(name);
      REQUIRE(o.shape == t.shape);
      for (size_t i = 0; i < t.size(); ++i)
        REQUIRE(std::fabs(o[i] - t[i]) <= 1e-12 * (1 + std::fabs(t[i])));
    }
  }
  WARN("property test: " << kPrograms << " random programs, " << elements
                         << " gradient elements checked against finite differences");
}
