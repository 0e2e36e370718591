// The thread pool behind adj_parallel_for: persistent workers that spin
// briefly for the next batch of tasks (a training step issues many small
// parallel loops back to back), then sleep on a condition variable. A pool
// with more threads than cores never spins: a spinning worker would hold a
// core that the worker with the tasks needs (200 threads on 2 cores took 12 s
// of yielding to do nothing).
//
// Tasks are handed out through one atomic counter; the caller takes tasks
// too, and waits until every task has finished.
#include "adjoint/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace {

thread_local bool in_task = false;

int all_cores() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

// One parallel_for: its tasks, and how many workers are inside it.
struct Batch {
  int64_t n = 0;
  adj_task_fn fn = nullptr;
  void* ctx = nullptr;
  std::atomic<int64_t> next{0}, done{0};
  int users = 0;  // workers that may still touch the batch (guarded by Pool::mu_)
};

class Pool {
 public:
  ~Pool() { resize(1); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    threads = std::max(1, threads);
    if (threads == size()) return;
    stop_workers();
    // Set before the workers start (std::thread's constructor orders it).
    spin_ = threads <= all_cores();
    for (int t = 1; t < threads; ++t) workers_.emplace_back([this] { work(); });
  }

  void run(int64_t n, adj_task_fn fn, void* ctx) {
    if (n <= 0) return;
    if (in_task || workers_.empty() || n == 1) {
      run_inline(n, fn, ctx);
      return;
    }
    std::lock_guard<std::mutex> one_batch(batch_mu_);
    Batch batch;
    batch.n = n;
    batch.fn = fn;
    batch.ctx = ctx;
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = &batch;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    take_tasks(batch);
    // The batch lives on this stack: leave only when every task is done and
    // no worker holds it any more (checked under the lock workers join by).
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (batch.done.load(std::memory_order_acquire) == n && batch.users == 0) {
          current_ = nullptr;
          return;
        }
      }
      std::this_thread::yield();
    }
  }

 private:
  static void run_inline(int64_t n, adj_task_fn fn, void* ctx) {
    bool outer = in_task;
    in_task = true;
    for (int64_t i = 0; i < n; ++i) fn(ctx, i);
    in_task = outer;
  }

  static void take_tasks(Batch& b) {
    in_task = true;
    for (;;) {
      int64_t i = b.next.fetch_add(1, std::memory_order_relaxed);
      if (i >= b.n) break;
      b.fn(b.ctx, i);
      b.done.fetch_add(1, std::memory_order_acq_rel);
    }
    in_task = false;
  }

  void work() {
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      // Spin a little: the next parallel loop of a step usually follows soon.
      for (int spin = 0;
           spin_ && spin < 20000 && generation_.load(std::memory_order_acquire) == seen; ++spin)
        std::this_thread::yield();
      Batch* b = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
        if (stop_) return;
        seen = generation_.load();
        b = current_;
        if (b) ++b->users;
      }
      if (!b) continue;
      take_tasks(*b);
      std::lock_guard<std::mutex> lock(mu_);
      --b->users;
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
  }

  std::vector<std::thread> workers_;
  std::mutex batch_mu_;  // one parallel_for at a time (calls from several threads queue)
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;         // guarded by mu_
  bool spin_ = true;          // workers spin before sleeping (only when each has a core)
  Batch* current_ = nullptr;  // guarded by mu_
  std::atomic<uint64_t> generation_{0};
};

Pool& pool() {
  static Pool p;
  static std::once_flag sized;
  std::call_once(sized, [] { p.resize(all_cores()); });
  return p;
}

}  // namespace

extern "C" void adj_parallel_for(int64_t n, adj_task_fn fn, void* ctx) { pool().run(n, fn, ctx); }

extern "C" void adj_set_num_threads(int32_t n) { pool().resize(n <= 0 ? all_cores() : n); }

extern "C" int32_t adj_num_threads(void) { return pool().size(); }

extern "C" int32_t adj_parallel_width(void) { return in_task ? 1 : pool().size(); }
