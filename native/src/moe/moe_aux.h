// The router load-balancing loss of transformers' Mixtral / MiniMax-M2 (load_balancing_loss_func, Switch Transformer
// eq. 4-6): E * sum_e f_e P_e over all layers' rows together, forward value and gradient into the router logits.
#pragma once
#include "model/config.h"
#include "moe/moe.h"

namespace peft {

// Layer statistics from the router logits [N, E] (before routing): p = softmax(logits), the top-k of p per row, the
// assignment counts and probability sums of the rows ws.row_mask counts. Both families use softmax here, as upstream
// does (MiniMax-M2's sigmoid scores and correction bias only route; its aux loss is Mixtral's).
void moe_aux_forward(const ModelConfig& c, const MoeWorkspace& ws, MoeLayerActs& a, const float* logits, int N);

// After a forward: the layers' statistics summed into ws.aux_count / aux_psum / aux_rows, and the loss
// E * sum_e (count_e / R) (psum_e / R), R = the counted rows of all layers (0 when no row counts).
double moe_aux_loss(const ModelConfig& c, MoeWorkspace& ws);

// dlog[N, E] += ws.aux_grad * d(aux)/d(logits) of layer a: the counts are constant (top-k is not differentiable), so
// d(aux)/d(p_te) = mask_t E count_e / R^2, then through the softmax.
void moe_aux_backward(const ModelConfig& c, const MoeWorkspace& ws, const MoeLayerActs& a, float* dlog, int N);

} // namespace peft
