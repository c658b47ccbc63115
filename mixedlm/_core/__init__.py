"""Compiled kernels of mixedlm; the facade imports each one by name.

* ``_remat``   - the one pass over the data: cross-product blocks of [Z X y].
* ``_xcsc``    - the same blocks' [X y] parts when [X y] is held sparse (CSC),
  and that CSC for a factors-only fixed part gathered from its level combinations.
* ``_dense``   - single grouping factor: profiled objective and analytic gradient.
* ``_merge``   - level pairs of the first factor merged by weight class, the
  input of the blocked solver's scalar fast path.
* ``_basis``   - the same level pairs folded onto a small basis of class weights,
  for large crossed designs (per-theta cost independent of the rows).
* ``_chol``    - recursive dense Cholesky, inverse factor and inverse Gram
  (BLAS-3; faster here than LAPACK's dpotrf/dpotri at these orders).
* ``_blocked`` - several factors: per-level elimination of the first factor,
  dense Schur complement (``_chol``), the gradient's pieces.
* ``_gradient`` - the blocked solver's analytic gradient pieces (quadratic forms,
  Z'r from the stored blocks).
* ``_sparse``  - several factors, sparse path: Lambda' Z'Z Lambda + I on a fixed
  CSC pattern, for CHOLMOD.
* ``_cholmod`` - the only scikit-sparse boundary (lazy import).
* ``_linalg.pxd`` - small inline helpers shared by the kernels.
* ``_checks.pxd`` - C-loop checks of the index arrays the kernels walk.
* ``_merge.pxd``  - the walk over one (rest column, class) run of level
  entries, shared by ``_merge`` and ``_basis``.
"""
