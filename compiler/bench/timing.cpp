#include "bench/timing.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace adjoint::bench {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs `step` at least `min_steps` times and for at least `seconds`; the mean
// seconds per step.
double run_for(const std::function<void()>& step, int64_t min_steps, double seconds) {
  double t0 = now_s(), elapsed = 0;
  int64_t n = 0;
  while (n < min_steps || elapsed < seconds) {
    step();
    ++n;
    elapsed = now_s() - t0;
  }
  return elapsed / static_cast<double>(n);
}

}  // namespace

double median_of_sorted(const std::vector<double>& v) {
  if (v.empty()) throw std::logic_error("median of nothing");
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Timing time_step(const std::function<void()>& step, const TimingOptions& o) {
  if (o.reps < 1 || !(o.min_time_s > 0)) throw std::logic_error("time_step: bad options");
  run_for(step, 3, std::min(o.warmup_s, o.min_time_s));
  double per = run_for(step, 2, std::min(o.calibrate_s, o.min_time_s));
  Timing t;
  t.steps_per_rep = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(o.min_time_s / per)));
  for (int r = 0; r < o.reps; ++r) {
    double t0 = now_s();
    for (int64_t i = 0; i < t.steps_per_rep; ++i) step();
    t.rep_us.push_back((now_s() - t0) * 1e6 / static_cast<double>(t.steps_per_rep));
  }
  std::sort(t.rep_us.begin(), t.rep_us.end());
  t.median_us = median_of_sorted(t.rep_us);
  t.min_us = t.rep_us.front();
  return t;
}

}  // namespace adjoint::bench
