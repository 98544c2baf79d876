# Type stubs for fastdl._core (private; use fastdl.ops). One section per kernel family;
# functions not listed yet are typed Any through __getattr__.
from typing import Any, Callable, Sequence, SupportsIndex, TypeVar

import numpy as np
from numpy.typing import DTypeLike

def __getattr__(name: str) -> Any: ...

# softmax (bind_softmax.cpp)
def softmax_forward(log: bool, x: np.ndarray, out: np.ndarray, axis: int) -> None: ...
def softmax_backward(
    log: bool, grad: np.ndarray, y: np.ndarray, out: np.ndarray, axis: int
) -> None: ...

# optim (bind_optim.cpp)
def adam_step(
    params: list[np.ndarray] | tuple[np.ndarray, ...],
    grads: list[np.ndarray] | tuple[np.ndarray, ...],
    exp_avgs: list[np.ndarray] | tuple[np.ndarray, ...],
    exp_avg_sqs: list[np.ndarray] | tuple[np.ndarray, ...],
    max_exp_avg_sqs: list[np.ndarray] | tuple[np.ndarray, ...] | None,
    step: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled: bool,
    amsgrad: bool,
    maximize: bool = False,
) -> None: ...
def sgd_step(
    params: list[np.ndarray] | tuple[np.ndarray, ...],
    grads: list[np.ndarray] | tuple[np.ndarray, ...],
    momentum_buffers: list[np.ndarray] | tuple[np.ndarray, ...] | None,
    lr: float,
    momentum: float,
    dampening: float,
    nesterov: bool,
    weight_decay: float,
    init: int,
    maximize: bool = False,
) -> None: ...
def sum_abs_pow(arrays: list[np.ndarray] | tuple[np.ndarray, ...], p: float) -> float: ...
def scale_(arrays: list[np.ndarray] | tuple[np.ndarray, ...], factor: float) -> None: ...

# batchnorm (bind_batchnorm.cpp): x (N, C) or (N, C, L); None = absent input / unwanted output
def batch_norm_train(
    x: np.ndarray,
    weight: np.ndarray | None,
    bias: np.ndarray | None,
    y: np.ndarray | None,
    mean: np.ndarray,
    invstd: np.ndarray,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    eps: float,
    momentum: float,
    var: np.ndarray | None = None,
) -> None: ...
def batch_norm_eval(
    x: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    weight: np.ndarray | None,
    bias: np.ndarray | None,
    y: np.ndarray,
    eps: float,
) -> None: ...
def batch_norm_backward(
    grad: np.ndarray,
    x: np.ndarray,
    mean: np.ndarray,
    invstd: np.ndarray,
    weight: np.ndarray | None,
    grad_x: np.ndarray | None,
    grad_weight: np.ndarray | None,
    grad_bias: np.ndarray | None,
    training: bool,
) -> None: ...

# attention (bind_attention.cpp)
def attention_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None,
    q_index: np.ndarray,
    k_index: np.ndarray,
    v_index: np.ndarray,
    mask_index: np.ndarray | None,
    is_causal: bool,
    scale: float,
    out: np.ndarray,
    lse: np.ndarray,
) -> None: ...
def attention_backward(
    grad: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    out: np.ndarray,
    lse: np.ndarray,
    mask: np.ndarray | None,
    q_index: np.ndarray,
    k_index: np.ndarray,
    v_index: np.ndarray,
    mask_index: np.ndarray | None,
    is_causal: bool,
    scale: float,
    dq: np.ndarray,
    dk: np.ndarray,
    dv: np.ndarray,
) -> None: ...

# runtime (bind_runtime.cpp)
def build_info() -> dict[str, Any]: ...
def isa_supported(name: str) -> bool: ...
def current_isa() -> str: ...
def best_isa() -> str: ...
def set_isa(name: str) -> None: ...
def _mask_isa(name: str) -> None: ...
def get_num_threads() -> int: ...
def _parallel_stats() -> dict[str, Any]: ...
def _reset_parallel_stats() -> None: ...
def _set_worker_delay_for_test(ns: int) -> None: ...
def _move_worker_for_test(cpu: int) -> bool: ...
def set_num_threads(n: int) -> None: ...
def available_cpus() -> int: ...
def in_forked_child() -> bool: ...

# activation (bind_activation.cpp); act: 0 none, 1 relu, 2 sigmoid, 3 tanh
def bias_act_forward(
    act: int, x: np.ndarray, bias: np.ndarray | None = None, out: np.ndarray | None = None
) -> np.ndarray: ...
def bias_act_forward_if_ready(act: int, x: object) -> np.ndarray | None: ...
def bias_act_backward(
    act: int,
    y: np.ndarray,
    grad: np.ndarray,
    out: np.ndarray | None = None,
    grad_bias: np.ndarray | None = None,
) -> np.ndarray: ...

# matmul (bind_matmul.cpp)
_F = TypeVar("_F", bound=Callable[..., np.ndarray])

def _fast_matmul(general: _F) -> _F: ...
def matmul(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    act: int = 0,
) -> np.ndarray: ...

# buffer pool (bind_buffer_pool.cpp, kernels/buffer_pool.h): outputs from 1 MiB are cache blocks
def empty(shape: SupportsIndex | Sequence[SupportsIndex], dtype: DTypeLike, /) -> np.ndarray: ...
def _pool_stats() -> dict[str, int | bool]: ...
def _pool_empty_cache() -> int: ...
def _pool_set_limit(bytes: int) -> int: ...
def _pool_set_hugepages(on: bool) -> None: ...
def _pool_reset_counters() -> None: ...
