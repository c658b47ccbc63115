import numpy as np
from numpy.typing import NDArray

def merge_level_pairs(
    ptr: NDArray[np.int64], idx: NDArray[np.int32], val: NDArray[np.float64],
    cls: NDArray[np.int32], nclass: int, AZX: NDArray[np.float64], q_rest: int,
    gptr: NDArray[np.int64], grow: NDArray[np.int32], gval: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int32], NDArray[np.float64],
           NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]: ...
