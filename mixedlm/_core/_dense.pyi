import numpy as np
from numpy.typing import NDArray

def objective_single(
    A11: NDArray[np.float64], AZX: NDArray[np.float64], AXX: NDArray[np.float64],
    lam: NDArray[np.float64], n: float, p: int, reml: bool,
    L: NDArray[np.float64], C: NDArray[np.float64], T: NDArray[np.float64],
    tmpl: NDArray[np.int64], grad: NDArray[np.float64],
) -> float: ...
