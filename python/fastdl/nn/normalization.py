"""Normalisation layers: ``BatchNorm1d`` (C++ kernels) and ``LayerNorm``."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from ..ops._checks import arg_error
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "LayerNorm"]


class BatchNorm1d(Module):
    """Batch normalisation over (N, C) or (N, C, L), with PyTorch's semantics.

    Training: normalise with the batch mean and *biased* variance (over N, or N and L), then
    ``weight * xhat + bias``; update ``running_mean``/``running_var`` with
    ``(1 - momentum) * running + momentum * batch``, storing the *unbiased* variance
    (``momentum=None``: cumulative average). Evaluation (``.eval()``) normalises with the
    running statistics. ``track_running_stats=False`` always uses batch statistics.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> bn = nn.BatchNorm1d(3)
        >>> y = bn(np.random.default_rng(0).normal(size=(8, 3)))
        >>> np.allclose(y.numpy().mean(axis=0), 0, atol=1e-6)
        True
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: Optional[float] = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        if (
            isinstance(num_features, bool)
            or not isinstance(num_features, (int, np.integer))
            or num_features <= 0
        ):
            raise arg_error("BatchNorm1d", "num_features", "be a positive int", repr(num_features))
        dt = np.dtype(dtype)
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dt))
            self.bias = Parameter(np.zeros(self.num_features, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dt))
            self.register_buffer("running_var", np.ones(self.num_features, dt))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, batch count 0.

        Example:
            >>> import numpy as np
            >>> from fastdl import nn
            >>> bn = nn.BatchNorm1d(2); _ = bn(np.random.default_rng(0).normal(size=(4, 2)))
            >>> bn.reset_running_stats(); bn.running_var
            array([1., 1.], dtype=float32)
        """
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, input: Any) -> Tensor:
        x = input.data if isinstance(input, Tensor) else np.asarray(input)
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise arg_error(
                "BatchNorm1d.forward", "input", f"have shape (N, {self.num_features}) or "
                f"(N, {self.num_features}, L)", f"shape {x.shape}",
            )  # fmt: skip
        use_batch = self.training or not self.track_running_stats
        if use_batch and self.training and self.track_running_stats:
            return F.batch_norm(
                input, self.running_mean, self.running_var, self.weight, self.bias,
                training=True, momentum=self.momentum, eps=self.eps,
                num_batches_tracked=self.num_batches_tracked,
            )  # fmt: skip
        if use_batch:
            return F.batch_norm(
                input, None, None, self.weight, self.bias, training=True, eps=self.eps
            )
        return F.batch_norm(
            input,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=False,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` axes, then affine.

    Example:
        >>> import numpy as np
        >>> from fastdl import nn
        >>> nn.LayerNorm(2)(np.array([[1.0, 3.0]])).numpy().round(3)
        array([[-1.,  1.]], dtype=float32)
    """

    def __init__(
        self,
        normalized_shape: Union[int, Sequence[int]],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if not all(s > 0 for s in self.normalized_shape):
            raise arg_error(
                "LayerNorm", "normalized_shape", "hold positive sizes", self.normalized_shape
            )
        self.eps = float(eps)
        self.elementwise_affine = elementwise_affine
        dt = np.dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            self.bias = Parameter(np.zeros(self.normalized_shape, dt)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Any) -> Tensor:
        x = input.data if isinstance(input, Tensor) else np.asarray(input)
        if (
            self.weight is not None
            and x.dtype != self.weight.dtype
            and not getattr(input, "requires_grad", False)
        ):
            input = x.astype(self.weight.dtype)
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
