// Fused softmax attention, forward and backward (flash-style: keys in blocks with an online
// softmax; the Tq x Tk score matrix is never held whole).
//
// Batch/head dimensions are flattened to `bh` problems. Each input plane is chosen through an
// index array (q_index[b] is the q plane of problem b, ...), so broadcast inputs need no copy.
// Determinism: every output element is produced by one task in a fixed order; the dq partial
// sums of key-block chunks (chunk count fixed by the shape) are added in chunk order.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace fastdl {

enum class MaskKind : int { none = 0, boolean = 1, additive = 2 };

struct AttentionProblem {
  int64_t bh = 0;  // number of (batch, head) problems
  int64_t tq = 0, tk = 0, d = 0, dv = 0;
  // Plane index per problem, each in [0, number of planes of that input).
  const int64_t* q_index = nullptr;
  const int64_t* k_index = nullptr;
  const int64_t* v_index = nullptr;
  const int64_t* mask_index = nullptr;  // only with a mask
  // Mask planes are (mask_rows, mask_cols) with mask_rows in {1, tq}, mask_cols in {1, tk};
  // boolean masks are uint8 (nonzero = attend), additive masks have the input's dtype.
  MaskKind mask_kind = MaskKind::none;
  int64_t mask_rows = 1, mask_cols = 1;
  bool causal = false;  // query i sees keys j <= i (top-left aligned, as PyTorch)
  double scale = 1.0;
};

struct AttentionKernels {
  // out (bh, tq, dv) = softmax(q k^T scale + mask) v; lse (bh, tq) = log-sum-exp of each row
  // of logits (-inf for a fully masked row, whose output is 0).
  void (*forward_f32)(const AttentionProblem& p, const float* q, const float* k, const float* v,
                      const void* mask, float* out, float* lse);
  void (*forward_f64)(const AttentionProblem& p, const double* q, const double* k, const double* v,
                      const void* mask, double* out, double* lse);
  // Gradients per problem: dq (bh, tq, d), dk (bh, tk, d), dv (bh, tk, dv); the caller sums
  // them over problems that share a broadcast input plane.
  void (*backward_f32)(const AttentionProblem& p, const float* dout, const float* q, const float* k,
                       const float* v, const float* out, const float* lse, const void* mask,
                       float* dq, float* dk, float* dv);
  void (*backward_f64)(const AttentionProblem& p, const double* dout, const double* q,
                       const double* k, const double* v, const double* out, const double* lse,
                       const void* mask, double* dq, double* dk, double* dv);
};

FASTDL_DECLARE_TABLE(AttentionKernels, attention_kernels)

#ifndef FASTDL_ISA_NS
inline const AttentionKernels& attention() { return FASTDL_SELECT(attention_kernels); }
#endif

}  // namespace fastdl
