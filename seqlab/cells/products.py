"""The structured path's recurrent products (:class:`~seqlab.cells.Recurrent`): the recurrent weight gradient formed
after the loop as one product, and ``h W_hᵀ`` on a weight prepacked for oneDNN."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


class StepGrads:
    """What the structured loop keeps to form the recurrent weight gradient as one product after the loop:
    the states ``h_0`` and ``h_1..h_T`` (time-major, set after the loop) and ``∂L/∂hp_t`` of steps ``1..T-1``,
    copied by backward hooks into one buffer (so each step's gradient tensor is freed, and its memory reused, at
    once)."""

    def __init__(self, steps: int, h_0: Tensor):
        self.steps = steps
        self.h_0 = h_0.detach()
        self.h_seq: Tensor | None = None
        self.d_hp: Tensor | None = None  # (T - 1, B, rows), allocated by the first hook that fires
        self.recorded = [False] * steps

    def record(self, t: int, d_hp: Tensor | None) -> None:
        if d_hp is None:  # no gradient reaches this step (autograd.grad of an output that does not depend on it)
            return
        if self.d_hp is None:
            self.d_hp = d_hp.new_empty(self.steps - 1, *d_hp.shape)
        self.d_hp[t - 1].copy_(d_hp)
        self.recorded[t] = True


class RecurrentWeightGrad(torch.autograd.Function):
    """Identity on ``hp_0``, attached to ``W_h``. Its backward runs after every later step's (it depends on all of
    them), so it can form ``∂L/∂W_h = Σ_t ∂L/∂hp_tᵀ h_{t-1}`` as one matrix product over all steps."""

    @staticmethod
    def forward(ctx, hp: Tensor, W_h: Tensor, grads: StepGrads) -> Tensor:
        ctx.grads, ctx.weight_dtype = grads, W_h.dtype
        return hp.view_as(hp)

    @staticmethod
    def backward(ctx, d_hp: Tensor):
        grads = ctx.grads
        # under autocast (bf16-mixed) hp_t is bf16 while the states may be float32: multiply in hp_t's dtype, as
        # autograd does for the bf16 copy of W_h that autocast makes, and return the weight's own dtype
        d_W_h = d_hp.t().mm(grads.h_0.to(d_hp.dtype))  # step 0: h_{-1} is the initial state
        if grads.d_hp is not None:
            for t, recorded in enumerate(grads.recorded[1:]):
                if not recorded:  # a step the loss does not reach
                    grads.d_hp[t].zero_()
            d_W_h.addmm_(grads.d_hp.flatten(0, 1).t(), grads.h_seq[:-1].flatten(0, 1).to(d_hp.dtype))
        grads.d_hp, grads.recorded = None, [False] * grads.steps  # a later backward (retained graph) starts afresh
        return d_hp, d_W_h.to(ctx.weight_dtype), None


class RecurrentWeightGradFromInputs(torch.autograd.Function):
    """Identity on the input projections ``xp (T, B, rows)``, attached to ``W_h``, for cells that read only
    ``xp_t + hp_t`` (then ``∂L/∂hp_t = ∂L/∂xp_t``). Its backward runs after every step's, and forms
    ``∂L/∂W_h = Σ_t ∂L/∂xp_tᵀ h_{t-1}`` as one product, with no per-step bookkeeping."""

    @staticmethod
    def forward(ctx, xp: Tensor, W_h: Tensor, h_0: Tensor, h_seq: list[Tensor]) -> Tensor:
        ctx.h_0, ctx.h_seq, ctx.weight_dtype = h_0.detach(), h_seq, W_h.dtype
        return xp.view_as(xp)

    @staticmethod
    def backward(ctx, d_xp: Tensor):
        # dtypes as in RecurrentWeightGrad: under autocast d_xp is bf16, the states may be float32
        d_W_h = d_xp[0].t().mm(ctx.h_0.to(d_xp.dtype))  # step 0: h_{-1} is the initial state
        if d_xp.shape[0] > 1:
            d_W_h.addmm_(d_xp[1:].flatten(0, 1).t(), ctx.h_seq[0][:-1].flatten(0, 1).to(d_xp.dtype))
        return d_xp, d_W_h.to(ctx.weight_dtype), None, None


class PackedRecurrentWeight:
    """``W_h`` reordered once per forward into oneDNN's blocked layout, so each step's recurrent product is one oneDNN
    matmul on a prepacked weight (the way oneDNN's own RNN kernels work) instead of a BLAS call that repacks the
    weight every step. The transpose, for the backward products ``∂L/∂h_{t-1} = ∂L/∂hp_t W_h``, is packed at the
    first backward step. Measured on one CPU thread at batch 32: 1.5× faster per-step products at hidden 1024
    (docs/cells.md)."""

    def __init__(self, W_h: Tensor, batch: int):
        self.W_h, self.batch = W_h.detach(), batch
        self.forward_weight = torch.ops.mkldnn._reorder_linear_weight(self.W_h, batch)
        self._backward_weight: Tensor | None = None

    def backward_weight(self) -> Tensor:
        if self._backward_weight is None:
            self._backward_weight = torch.ops.mkldnn._reorder_linear_weight(self.W_h.t().contiguous(), self.batch)
        return self._backward_weight

    @staticmethod
    def usable(W_h: Tensor, steps: int) -> bool:
        """Float32 on the CPU, oneDNN built in and enabled, no autocast, and enough steps to repay the packing."""
        return (
            W_h.device.type == "cpu"
            and W_h.dtype == torch.float32
            and W_h.shape[1] >= PACKED_MIN_HIDDEN
            and steps >= PACKED_MIN_STEPS
            and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled
            and not torch.is_autocast_enabled("cpu")
        )


#: the prepacked recurrent product is used from this hidden size and this many steps up (below, packing costs more
#: than it saves: measured in docs/cells.md)
PACKED_MIN_HIDDEN = 512
PACKED_MIN_STEPS = 8


class PackedRecurrentProduct(torch.autograd.Function):
    """``base + h W_hᵀ`` with a :class:`PackedRecurrentWeight`: ``base`` is a step's input projection
    ``xp_t (B, rows)`` (cells that sum the two), ``b_h (rows,)``, or None. The weight's gradient is not formed here
    (``Recurrent`` forms it after the loop from what it keeps); the gradients of ``h`` and ``base`` are."""

    @staticmethod
    def forward(ctx, h: Tensor, base: Tensor | None, packed: PackedRecurrentWeight) -> Tensor:
        ctx.packed = packed
        ctx.base_dim = None if base is None else base.dim()
        h = h.contiguous()
        if base is not None and base.dim() == 2:
            return torch.ops.mkldnn._linear_pointwise.binary(h, base.contiguous(), packed.forward_weight, None, "add")
        return torch.ops.mkldnn._linear_pointwise(h, packed.forward_weight, base, "none", [], "")

    @staticmethod
    @once_differentiable  # the oneDNN products have no derivative of their own: a double backward is an error
    def backward(ctx, d: Tensor):
        d_h = d_base = None
        if ctx.needs_input_grad[0]:
            d_h = torch.ops.mkldnn._linear_pointwise(d.contiguous(), ctx.packed.backward_weight(), None, "none", [], "")
        if ctx.needs_input_grad[1]:
            d_base = d if ctx.base_dim == 2 else d.sum(0)
        return d_h, d_base, None
