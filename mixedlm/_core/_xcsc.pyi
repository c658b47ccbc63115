import numpy as np
from numpy.typing import NDArray

def level_cross_csc(codes: NDArray[np.int32], z1: NDArray[np.float64],
                    indptr: NDArray[np.int64], indices: NDArray[np.int32],
                    data: NDArray[np.float64], nlevels: int) -> NDArray[np.float64]: ...
def rest_cross_csc(cols: NDArray[np.int32], vals: NDArray[np.float64],
                   indptr: NDArray[np.int64], indices: NDArray[np.int32],
                   data: NDArray[np.float64], q_rest: int) -> NDArray[np.float64]: ...
def csc_gram(indptr: NDArray[np.int64], indices: NDArray[np.int32],
             data: NDArray[np.float64], n: int) -> NDArray[np.float64]: ...
def gather_rows_csc(Xc: NDArray[np.float64], inverse: NDArray[np.int64],
                    y: NDArray[np.float64]
                    ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]: ...
