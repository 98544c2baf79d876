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
