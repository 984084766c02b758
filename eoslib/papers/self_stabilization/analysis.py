"""Summaries of a tracked run: cycles, peaks, two-step sharpness, Theorem 1's residuals, costs.

All functions take a :class:`~eoslib.papers.self_stabilization.tracking.TrackedRun` (or its
arrays) and return NumPy values; the notebooks assert on them.

References:
  Damian, Nichani, Lee (2023), Theorem 1, Figure 4, Appendix E.
"""

from __future__ import annotations

import numpy as np

from eoslib.papers.self_stabilization.toy import stage_labels

__all__ = ["first_cycle_end", "first_peak", "two_step_sharpness", "sliding_correlation",
           "theorem1_residuals", "hvp_equivalents", "cycle_peaks", "lemma13_14", "lemma4_scalar"]


def first_cycle_end(x: np.ndarray, y: np.ndarray, delta: np.ndarray) -> int:
    """End of the first cycle of the four stages: the first return to stage 2 after stage 1.

    Returns:
      the step index (``len(x)`` if the cycle does not close).
    """
    lab = stage_labels(x, y, delta)
    seen1 = np.flatnonzero(lab == 1)
    if seen1.size == 0:
        return len(x)
    after = np.flatnonzero((lab == 2) & (np.arange(len(x)) > seen1[0]))
    return int(after[0]) if after.size else len(x)


def first_peak(z: np.ndarray, end: int) -> tuple[int, float]:
    """``(step, value)`` of the largest ``|z|`` before ``end``."""
    z = np.abs(np.asarray(z)[:end])
    i = int(np.argmax(z))
    return i, float(z[i])


def cycle_peaks(x: np.ndarray, y: np.ndarray, delta: np.ndarray) -> list[int]:
    """Steps of the largest ``|x|`` in each stage-3/4 excursion (one per cycle)."""
    lab = stage_labels(x, y, delta)
    big = lab >= 3
    peaks, start = [], None
    for i, b in enumerate(np.append(big, False)):
        if b and start is None:
            start = i
        elif not b and start is not None:
            peaks.append(start + int(np.argmax(np.abs(x[start:i]))))
            start = None
    return peaks


def two_step_sharpness(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(t, (S_t + S_{t+1}) / 2)`` for every ``t`` with both values measured (not NaN)."""
    S = np.asarray(S)
    ok = ~np.isnan(S[:-1]) & ~np.isnan(S[1:])
    t = np.flatnonzero(ok)
    return t, 0.5 * (S[t] + S[t + 1])


def sliding_correlation(a: np.ndarray, b: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of ``a`` and ``b`` over consecutive windows of ``width`` steps.

    Returns:
      ``(window starts, correlations)``.
    """
    starts = np.arange(0, len(a) - width + 1, width)
    corr = np.array([np.corrcoef(a[s:s + width], b[s:s + width])[0, 1] for s in starts])
    return starts, corr


def theorem1_residuals(arrays: dict, eta: float) -> dict[str, np.ndarray]:
    """Theorem 1's residuals with GD's own coordinates ``x_t, y_t``, in units of its error terms.

    ``loss``: ``|L(theta_t) - L(theta^dagger_t) - x_t^2/eta| / (epsilon delta^2 / eta)``;
    ``sharpness``: ``|S(theta_t) - 2/eta - y_t - (grad S_t . u_t) x_t| / (epsilon^2 / eta)``
    (only where GD's sharpness was measured), with ``epsilon = sup_t epsilon_t`` and
    ``delta = sup_t delta_t`` (Definitions 4 and 6).
    """
    eps = float(np.max(arrays["epsilon"]))
    delta = float(np.max(arrays["delta"]))
    x, y = arrays["x"], arrays["y"]
    loss = np.abs(arrays["gd_loss"] - arrays["dag_loss"] - x**2 / eta) / (eps * delta**2 / eta)
    S = arrays["gd_sharpness"]
    ok = ~np.isnan(S)
    sharp = np.abs(S[ok] - 2.0 / eta - y[ok] - arrays["gradS_dot_u"][ok] * x[ok]) / (eps**2 / eta)
    return {"loss": loss, "sharpness": sharp, "epsilon": eps, "delta": delta}


def hvp_equivalents(arrays: dict, ratios: dict) -> np.ndarray:
    """Cost of each tracked constrained step in HVP-equivalents.

    Lanczos HVPs plus ``grad S`` evaluations and gradients weighted by their measured cost in
    HVPs (``ratios["grad_S"]``, ``ratios["grad"]``, from
    :func:`~eoslib.papers.self_stabilization.tracking.cost_ratios`).
    """
    return (arrays["proj_hvps"] + ratios["grad_S"] * arrays["proj_grad_S"]
            + ratios["grad"] * arrays["proj_grads"])


def lemma13_14(f, arrays: dict, eta: float) -> tuple[np.ndarray, np.ndarray]:
    """Lemmas 13 and 14 along the stored start of the constrained trajectory.

    Returns:
      ``(err13, c14)``: the relative error ``|theta+_{t+1} - theta+_t + eta P^perp grad L_t| /
      (eta |grad L_t|)`` of the first-order step (``P^perp`` removes ``u_t`` and
      ``grad S_t^perp``), and the descent constant ``(L+_t - L+_{t+1}) /
      (eta |P^perp grad L_t|^2)``.
    """
    import jax
    import jax.numpy as jnp

    P, U, G = arrays["states_dag"], arrays["states_u"], arrays["states_gsp"]
    m = len(P) - 1
    grads = np.asarray(jax.vmap(jax.grad(f))(jnp.asarray(P[:m])))
    gn = G[:m] / np.linalg.norm(G[:m], axis=1, keepdims=True)
    proj = (grads - U[:m] * np.sum(U[:m] * grads, 1, keepdims=True)
            - gn * np.sum(gn * grads, 1, keepdims=True))
    err13 = np.linalg.norm(np.diff(P, axis=0) + eta * proj, axis=1) / (eta * np.linalg.norm(grads, axis=1))
    dl = arrays["dag_loss"][:m] - arrays["dag_loss"][1 : m + 1]
    return err13, dl / (eta * np.sum(proj**2, axis=1))


def lemma4_scalar(f, arrays: dict, eta: float, num: int | None = None,
                  left_index: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Lemma 4's scalar recursion (5) rebuilt from the stored constrained trajectory.

    Every ``grad S_s^perp`` is propagated by its own chain ``A_k = (I - eta H_k) P_{u_k}^perp``
    (one HVP per column and step at the stored ``theta^dagger_k``), giving
    ``beta_{s->t} = grad S_{t+left_index}^perp . A_t ... A_{s+1} grad S_s^perp`` (Definition 4
    has ``left_index = 1``; 0 is the other reading of the garbled print). With the recorded
    ``x_hat_s``, ``delta_s`` and the term of the initial ``v_0^perp``, eq. (5) gives ``y_hat_{t+1}``.

    Args:
      f: the training loss of the run.
      arrays: the run's arrays (``states_*``, ``p7_x``, ``delta``, ``v0``).
      eta: learning rate.
      num: number of stored steps to use (default all).
      left_index: 1 (Definition 4) or 0.

    Returns:
      ``(y_eq5, beta)``: ``y_hat_1..y_hat_{num-1}`` from eq. (5) and the ``(num-1, num-1)``
      matrix ``beta[s, t]``.
    """
    import jax.numpy as jnp

    from eoslib.papers.self_stabilization.predicted import propagate_network

    P, U, G = arrays["states_dag"], arrays["states_u"], arrays["states_gsp"]
    num = len(P) if num is None else min(num, len(P))
    T = num - 1
    eta_a = jnp.asarray(eta)
    beta = np.zeros((T, T))
    init = np.zeros(T)
    cols: list[jnp.ndarray] = []
    r0 = jnp.asarray(arrays["v0"])
    for k in range(T):
        point, u = jnp.asarray(P[k]), jnp.asarray(U[k])
        r0 = propagate_network(f, point, u, r0, eta_a)
        cols = [propagate_network(f, point, u, c, eta_a) for c in cols]
        cols.append(jnp.asarray(G[k]))
        g_left = jnp.asarray(G[k + left_index])
        # after the propagation by A_k, column s holds A_k ... A_{s+1} grad S_s^perp
        beta[: k + 1, k] = np.asarray(jnp.stack(cols, axis=1).T @ g_left)
        init[k] = float(g_left @ r0)
    c = eta * (arrays["delta"][:T] ** 2 - arrays["p7_x"][:T] ** 2) / 2.0
    return c @ beta + init, beta
