"""Test configuration: float64 and strict dtype promotion, before any array exists.

One XLA and one OpenBLAS thread per process, as in every executed notebook (the runner and the
Makefile set the same): reductions are bit-stable, and `-n 2` workers do not oversubscribe 2 cores.
Tests marked ``paper_scale`` run only with ``make test-paper-scale``.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
