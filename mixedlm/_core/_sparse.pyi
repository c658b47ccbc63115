import numpy as np
from numpy.typing import NDArray

def scale_csc(
    indptr: NDArray[np.int64], indices: NDArray[np.int32], data: NDArray[np.float64],
    bstart: NDArray[np.int64], bk: NDArray[np.int64], lam_off: NDArray[np.int64],
    lam: NDArray[np.float64], diag_pos: NDArray[np.int64],
    work: NDArray[np.float64], out: NDArray[np.float64],
) -> None: ...
