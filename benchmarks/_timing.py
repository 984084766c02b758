"""Timing shared by the benchmark scripts (run them from the checkout; not part of eoslib)."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import jax


def median_time(fn: Callable[[], Any], repeats: int = 7) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one untimed call.

    The untimed call compiles and warms up; every call is waited for with
    ``jax.block_until_ready`` (a no-op on plain Python values), so JAX's asynchronous dispatch
    does not hide work.
    """
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)
