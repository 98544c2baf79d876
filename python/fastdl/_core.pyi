# Type stubs for fastdl._core (private; use fastdl.ops). One section per kernel family;
# functions not listed yet are typed Any through __getattr__.
from typing import Any

import numpy as np

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
) -> None: ...
def sum_abs_pow(arrays: list[np.ndarray] | tuple[np.ndarray, ...], p: float) -> float: ...
def scale_(arrays: list[np.ndarray] | tuple[np.ndarray, ...], factor: float) -> None: ...
