import numpy as np
from numpy.typing import NDArray

def work_size(cstart: NDArray[np.int64], rptr: NDArray[np.int64],
              nw: int) -> tuple[int, int, int]: ...
def cholesky_dissected(a: NDArray[np.float64], cstart: NDArray[np.int64],
                       rptr: NDArray[np.int64], rrow: NDArray[np.int32],
                       out: NDArray[np.float64] | None = ...) -> int: ...
