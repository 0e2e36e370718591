/* The runtime's thread pool, as generated code sees it (plain C).
 *
 * Generated code splits work into `n` independent tasks (GEMM tiles, batch
 * rows) and calls adj_parallel_for; the pool runs them on its threads and the
 * caller's, and returns when all are done. Which thread runs a task never
 * changes what it computes, so results are the same bits for every thread
 * count: each task writes its own outputs and every reduction keeps a fixed
 * order inside one task.
 *
 * One pool per process. adj_set_num_threads(0) means every core (the default);
 * a call from inside a task runs its tasks inline, on the calling thread.
 */
#ifndef ADJOINT_PARALLEL_H
#define ADJOINT_PARALLEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*adj_task_fn)(void *ctx, int64_t task);

/* Runs fn(ctx, i) for every i in [0, n), in any order and on any thread. */
void adj_parallel_for(int64_t n, adj_task_fn fn, void *ctx);

/* Threads used by adj_parallel_for (the caller's included); n <= 0 means
 * every core. Not to be called while a parallel_for is running. */
void adj_set_num_threads(int32_t n);
int32_t adj_num_threads(void);

/* Threads an adj_parallel_for called from here would run on: 1 inside a
 * task (its tasks run inline), else adj_num_threads(). Work that splits
 * itself into one part per thread asks this. */
int32_t adj_parallel_width(void);

#ifdef __cplusplus
}
#endif

#endif /* ADJOINT_PARALLEL_H */
