// RemoveOnSignal: temporary files removed when SIGINT, SIGTERM or SIGHUP ends
// the process (adjoint/output_file.hpp).
//
// The handler may run at any instant, on any thread, so it touches only what
// is async-signal-safe: fixed slots of path bytes published by an atomic
// flag, unlink(), signal() and raise(). Paths are copied into the slots before
// the flag is set, and the flag is cleared before a slot is reused.
#include <signal.h>
#include <unistd.h>

#include <adjoint/output_file.hpp>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace adjoint {
namespace {

constexpr int kSlots = 16;
constexpr size_t kMaxPath = 4096;
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

struct Slot {
  std::atomic<bool> used{false};
  char path[kMaxPath];
};

Slot g_slots[kSlots];
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler reads the flags");

std::mutex g_mu;                        // guards the rest, outside the handler
int g_guarded = 0;                      // slots in use
bool g_installed[std::size(kSignals)];  // which handlers are ours

extern "C" void remove_and_reraise(int sig) {
  int saved = errno;
  for (Slot& s : g_slots)
    if (s.used.load(std::memory_order_acquire)) ::unlink(s.path);
  // Only the default disposition is ever replaced, so restoring it and
  // raising again ends the process as the signal would have (the signal is
  // blocked while this runs and is delivered on return).
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  errno = saved;
}

// Our handler for each signal whose disposition is the default; g_mu held.
void install() {
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    struct sigaction old {};
    g_installed[i] = false;
    if (::sigaction(kSignals[i], nullptr, &old) != 0 || old.sa_handler != SIG_DFL ||
        (old.sa_flags & SA_SIGINFO))
      continue;
    struct sigaction mine {};
    mine.sa_handler = remove_and_reraise;
    sigemptyset(&mine.sa_mask);
    g_installed[i] = ::sigaction(kSignals[i], &mine, nullptr) == 0;
  }
}

// Puts back the default where our handler still is; g_mu held.
void uninstall() {
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    if (!g_installed[i]) continue;
    struct sigaction now {};
    if (::sigaction(kSignals[i], nullptr, &now) == 0 && now.sa_handler == remove_and_reraise)
      ::signal(kSignals[i], SIG_DFL);
    g_installed[i] = false;
  }
}

}  // namespace

RemoveOnSignal::RemoveOnSignal(const std::string& path) : slot_(-1) {
  if (path.empty() || path.size() >= kMaxPath) return;
  std::lock_guard<std::mutex> lock(g_mu);
  for (int i = 0; i < kSlots; ++i) {
    if (g_slots[i].used.load(std::memory_order_relaxed)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].used.store(true, std::memory_order_release);
    slot_ = i;
    if (g_guarded++ == 0) install();
    return;
  }
}

RemoveOnSignal::~RemoveOnSignal() {
  if (slot_ < 0) return;
  std::lock_guard<std::mutex> lock(g_mu);
  g_slots[slot_].used.store(false, std::memory_order_release);
  if (--g_guarded == 0) uninstall();
}

}  // namespace adjoint
