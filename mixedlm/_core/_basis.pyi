import numpy as np
from numpy.typing import NDArray

def basis_level_pairs(
    ptr: NDArray[np.int64], idx: NDArray[np.int32], val: NDArray[np.float64],
    cls: NDArray[np.int32], U: NDArray[np.float64], AZX: NDArray[np.float64], q_rest: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def basis_quadform(
    Pb: NDArray[np.float64], X: NDArray[np.float64], beta: NDArray[np.float64],
    rscale: NDArray[np.float64], Sinv: NDArray[np.float64], p: int,
) -> float: ...
