import numpy as np
from numpy.typing import NDArray

def objective_blocked(
    A11: NDArray[np.float64], AZX: NDArray[np.float64], ptr: NDArray[np.int64],
    idx: NDArray[np.int32], val: NDArray[np.float64], cptr: NDArray[np.int64],
    cent: NDArray[np.int64], lev: NDArray[np.int32], A22: NDArray[np.float64],
    lam1: NDArray[np.float64], q_rest: int, all_scalar: bool, rscale: NDArray[np.float64],
    rstart: NDArray[np.int64], rk: NDArray[np.int64], rlam_off: NDArray[np.int64],
    rlam: NDArray[np.float64], n: float, p: int, reml: bool,
    L: NDArray[np.float64], C: NDArray[np.float64], Csp: NDArray[np.float64],
    T: NDArray[np.float64], bs: NDArray[np.float64], Ct: NDArray[np.float64],
    Sinv: NDArray[np.float64], merged: tuple | None = None, basis: tuple | None = None,
    gram: bool = True, dissected: tuple | None = None,
) -> float: ...
