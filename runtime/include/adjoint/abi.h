/* The C ABI of code compiled by Adjoint: what the JIT returns and what an AOT
 * object exports. Plain C; caller-owned buffers; the generated code allocates
 * nothing and only reads `data` (shapes are validated by the caller, e.g. the
 * C++ API, before the call).
 *
 * For a model `m` the compiler produces:
 *
 *   int64_t m_workspace_size(const adj_dims *dims);   bytes of scratch needed
 *   double  m_grad(const adj_tensor *inputs, const adj_tensor *params,
 *                  adj_tensor *grads, const adj_dims *dims, void *workspace);
 *       returns the loss; writes grads[i] for the i-th `wrt` tensor
 *   void    m_forward(const adj_tensor *inputs, const adj_tensor *params,
 *                     adj_tensor *outputs, const adj_dims *dims, void *workspace);
 *       writes outputs[i] for the i-th `output` (then the minimised scalar, if any)
 *
 * Results are computed straight into the caller's `grads` / `outputs` buffers,
 * so those must not overlap the inputs, the params or each other.
 *
 * inputs and params are in declaration order; dims holds the value of every
 * symbolic size in order of first appearance in the inputs' shapes (a model
 * without symbolic sizes never reads it, so it may be NULL). The workspace is
 * at least m_workspace_size(dims) bytes, 64-byte aligned, and may be reused
 * between calls; a call keeps no state in it.
 *
 * Labels and indices (i32) are not checked: one outside its range gives a NaN
 * loss (softmax_cross_entropy), a NaN row (one_hot, gather) or is skipped
 * (scatter_add), never an out-of-bounds access. Callers that want an error
 * validate them before the call.
 */
#ifndef ADJOINT_ABI_H
#define ADJOINT_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ADJ_ABI_VERSION 1

typedef enum adj_dtype { ADJ_F32 = 0, ADJ_F64 = 1, ADJ_I32 = 2 } adj_dtype;

typedef struct adj_tensor {
  void *data;            /* row-major, contiguous */
  const int64_t *shape;  /* rank entries */
  int32_t rank;
  adj_dtype dtype;
} adj_tensor;

typedef struct adj_dims {
  const int64_t *values; /* one per symbolic size */
  int32_t count;
} adj_dims;

typedef int64_t (*adj_workspace_size_fn)(const adj_dims *dims);
typedef double (*adj_grad_fn)(const adj_tensor *inputs, const adj_tensor *params,
                              adj_tensor *grads, const adj_dims *dims, void *workspace);
typedef void (*adj_forward_fn)(const adj_tensor *inputs, const adj_tensor *params,
                               adj_tensor *outputs, const adj_dims *dims, void *workspace);

/* Training (graphs with a loss). For model `m`:
 *
 *   double m_train_step(const adj_tensor *inputs, adj_tensor *params,
 *                       adj_tensor *state, const adj_dims *dims, void *workspace,
 *                       const adj_optimizer *opt);
 *
 * computes the loss and the gradients like m_grad, then updates every param
 * that is a `wrt` tensor in place (wrt inputs are not touched). `state` holds
 * two buffers per param, in param order (state[2p], state[2p+1]), each shaped
 * and typed like the param, zero before the first step: the momentum buffer
 * for SGD (the second is unused), the first and second moments for Adam.
 * PyTorch semantics: SGD  v = momentum*v + g;  p -= lr*v
 *                    Adam m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
 *                         p -= (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * with t = opt->step, the number of this update (1 for the first). The
 * workspace is m_workspace_size(dims) bytes, as for m_grad. Returns the loss
 * (before the update). */
typedef enum adj_optimizer_kind { ADJ_SGD = 0, ADJ_ADAM = 1 } adj_optimizer_kind;

typedef struct adj_optimizer {
  int32_t kind; /* adj_optimizer_kind */
  double lr;
  double momentum; /* SGD */
  double beta1, beta2, eps; /* Adam */
  int64_t step; /* Adam: 1 for the first update */
} adj_optimizer;

typedef double (*adj_train_step_fn)(const adj_tensor *inputs, adj_tensor *params,
                                    adj_tensor *state, const adj_dims *dims, void *workspace,
                                    const adj_optimizer *opt);

#ifdef __cplusplus
}
#endif

#endif /* ADJOINT_ABI_H */
