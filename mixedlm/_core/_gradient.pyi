import numpy as np
from numpy.typing import NDArray

def level_matvec(
    ptr: NDArray[np.int64], idx: NDArray[np.int32], val: NDArray[np.float64],
    x: NDArray[np.float64], q_rest: int,
) -> NDArray[np.float64]: ...
def level_quadform(
    ptr: NDArray[np.int64], idx: NDArray[np.int32], bz: NDArray[np.float64],
    bx: NDArray[np.float64], Sinv: NDArray[np.float64], q_rest: int,
) -> NDArray[np.float64]: ...
def merged_quadform(
    pptr: NDArray[np.int64], prow: NDArray[np.int32] | NDArray[np.uint16],
    pval: NDArray[np.float64] | NDArray[np.float32], rcol: NDArray[np.int64],
    rptr: NDArray[np.int64], rcls: NDArray[np.int32], w: NDArray[np.float64],
    rscale: NDArray[np.float64], Sinv: NDArray[np.float64],
) -> float: ...
def residual_cross(
    A11: NDArray[np.float64], AZX: NDArray[np.float64], ptr: NDArray[np.int64],
    idx: NDArray[np.int32], val: NDArray[np.float64], gptr: NDArray[np.int64],
    grow: NDArray[np.int32], gval: NDArray[np.float64], AXr: NDArray[np.float64],
    beta: NDArray[np.float64], b1: NDArray[np.float64], br: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def level_normsq(
    ptr: NDArray[np.int64], idx: NDArray[np.int32], val: NDArray[np.float64],
    wl: NDArray[np.float64], rscale: NDArray[np.float64], X: NDArray[np.float64], m: int,
    work: NDArray[np.float64] | None = None,
) -> tuple[float, NDArray[np.float64]]: ...

NORMSQ_WORK_ROWS: int
