// The thread pool behind adj_parallel_for with far more threads than cores,
// where its workers sleep instead of spinning: every task still runs exactly
// once, and the pool comes back to its default size.
#include <adjoint/parallel.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

namespace {

struct Counts {
  std::vector<std::atomic<int>> runs;
  explicit Counts(size_t n) : runs(n) {}
};

void count_task(void* ctx, int64_t i) {
  static_cast<Counts*>(ctx)->runs[static_cast<size_t>(i)].fetch_add(1);
}

}  // namespace

TEST_CASE("an oversubscribed pool runs every task exactly once", "[runtime]") {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int threads : {1, 3, 4 * cores + 5}) {
    CAPTURE(threads);
    adj_set_num_threads(threads);
    CHECK(adj_num_threads() == threads);
    Counts c(37);
    for (int rep = 0; rep < 200; ++rep) adj_parallel_for(37, count_task, &c);
    for (const auto& r : c.runs) CHECK(r.load() == 200);
  }
  adj_set_num_threads(0);
  CHECK(adj_num_threads() == cores);
}
