// Timing a step the way the reference benchmarks do (bench-ref's common.hpp
// and workloads.py), so that their numbers compare: warm up, calibrate the
// number of steps so one repetition lasts at least `min_time_s`, then time
// `reps` repetitions and report the per-step median and minimum.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace adjoint::bench {

struct TimingOptions {
  double min_time_s = 1.0;  // each repetition lasts at least this long
  int reps = 5;
  // Warm-up and calibration run at least this long each, capped at
  // min_time_s so that a short smoke run stays short.
  double warmup_s = 0.3;
  double calibrate_s = 0.1;
};

struct Timing {
  double median_us = 0, min_us = 0;
  int64_t steps_per_rep = 0;
  std::vector<double> rep_us;  // per-step time of each repetition, sorted
};

// Runs `step` many times; see the top.
Timing time_step(const std::function<void()>& step, const TimingOptions& o);

// The median of a sorted, non-empty list (the mean of the middle two for an even count).
double median_of_sorted(const std::vector<double>& v);

}  // namespace adjoint::bench
