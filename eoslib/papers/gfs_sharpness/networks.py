"""GFS sharpness along full-batch GD of real networks (Section 4.2, Appendices B.4-B.5).

GD runs through the core driver :func:`eoslib.train.train_gd`; every ``gfs_every`` steps
the callback :class:`eoslib.callbacks.GFSSharpness` runs gradient flow from the iterate to a
loss threshold (:mod:`eoslib.flow`: the adaptive RKC solver, a diffrax solver, or the
paper's RK4 with step ``alpha / lambda``) and records the top Hessian eigenvalue there.
The sharpness itself is tracked by warm-started Lanczos (``eig_every``).

Book scale runs on scikit-learn data that ships with the package: digits (through
:mod:`eoslib.data`) and, for Figure 13, the wine or breast-cancer tables, loaded here
(:func:`load_table`). The paper's scale (CIFAR-10 / SVHN subsets, VGG-11-BN, ResNet-20) is
one parameter away through :mod:`eoslib.data` and :mod:`eoslib.nets`.

References:
  Kreisler et al., ICML 2023, Section 4.2, Appendices B.4-B.5.
  J. Cohen et al., "Gradient Descent on Neural Networks Typically Occurs at the Edge of
  Stability", ICLR 2021 (architectures, MSE convention, RK4 gradient flow with step 1/S).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from eoslib import callbacks, data, nets, train
from eoslib.validation import integer as _integer, positive as _positive

__all__ = [
    "TABLES",
    "Table",
    "load_table",
    "Setup",
    "make_setup",
    "GFSTrack",
    "track_gfs_sharpness",
    "SolverComparison",
    "compare_solvers",
    "track_solver",
    "join_comparisons",
    "Acceptance",
    "acceptance",
]

#: Tabular datasets shipped with scikit-learn (Figure 13's book-scale stand-ins for SVHN).
TABLES = ("wine", "breast_cancer")


class Table(NamedTuple):
    """A small labelled table.

    Attributes:
      x: features ``(n, d)``, standardised with the statistics of the full table.
      y: one-hot targets ``(n, K)``.
      description: one line for figure notes.
    """

    x: np.ndarray
    y: np.ndarray
    description: str


def load_table(name: str, n: int | None = None) -> Table:
    """scikit-learn's wine (178 x 13, 3 classes) or breast-cancer (569 x 30, 2 classes) table.

    Features are standardised per column with full-table statistics (as Cohen et al. do for
    CIFAR-10); the first ``n`` rows after a fixed shuffle (seed 0, the tables are sorted by
    class) are kept, with one-hot targets.

    Args:
      name: ``"wine"`` or ``"breast_cancer"``.
      n: rows to keep, in ``[1, size]``; None keeps all.
    """
    from sklearn import datasets as skd

    if name not in TABLES:
        raise ValueError(f"name={name!r} is not allowed; choices: {'|'.join(TABLES)}")
    raw = {"wine": skd.load_wine, "breast_cancer": skd.load_breast_cancer}[name]()
    x, labels = raw.data.astype(np.float64), raw.target.astype(np.int64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    order = np.random.default_rng(0).permutation(len(x))
    if n is not None:
        n = _integer("n", n, 1, len(x))
        order = order[:n]
    k = int(labels.max()) + 1
    y = np.eye(k)[labels[order]]
    return Table(x[order], y, f"data: scikit-learn {name.replace('_', '-')}, n={len(order)}, standardised")


class Setup(NamedTuple):
    """A network and its training loss.

    Attributes:
      f: training loss of the flat parameters.
      w0: initial flat parameters.
      description: one line for figure notes (data and network).
    """

    f: Any
    w0: jax.Array
    description: str


def make_setup(dataset: str = "digits", *, n: int = 100, network: str = "mlp", widths: Sequence[int] = (32, 32),
               activation: str = "tanh", seed: int = 0) -> Setup:
    """Training loss (MSE with one-hot targets, Cohen et al.'s ``mean 1/2 ||f - e_y||^2``) of a network.

    Args:
      dataset: ``"digits"``, ``"wine"``, ``"breast_cancer"`` (shipped) or ``"cifar10"``,
        ``"svhn"``, ``"mnist"`` (files under the data root, see :mod:`eoslib.data`).
      n: training examples (the first ``n``), in ``[1, inf)``.
      network: a name of :data:`eoslib.nets.NETWORKS` (``"mlp"`` at book scale).
      widths: hidden widths (MLP) or the network's widths; ignored for ``vgg11_bn``/``resnet20``
        when empty.
      activation: a name of :data:`eoslib.nets.ACTIVATIONS`.
      seed: initialisation seed, in ``[0, inf)``.
    """
    seed = _integer("seed", seed, 0)
    if dataset in TABLES:
        tab = load_table(dataset, n)
        x, y, note = tab.x, tab.y, tab.description
    else:
        ds = data.load_dataset(dataset, n=n, flatten=network == "mlp")
        x, y, note = ds.x, ds.y, ds.description
    kw = {"widths": tuple(widths)} if widths else {}
    net = nets.make_network(network, activation=activation, num_outputs=y.shape[1],
                            input_shape=x.shape[1:], key=seed, **kw)
    f, w0 = nets.flat_loss(net, net.init_params, x, y, "mse")
    return Setup(f, w0, f"{note}; {net.description}")


class GFSTrack(NamedTuple):
    """GD on a network with its sharpness and GFS sharpness.

    Attributes:
      steps, loss: training loss at the logging steps.
      eig_steps, sharpness: ``lambda_max`` at the eigenvalue steps.
      gfs_steps, phi: GFS sharpness at the GFS steps.
      gf_reached: whether each gradient flow reached the loss threshold.
      gf_grad_evals: gradient evaluations of each gradient flow.
      gf_time: flow time of each gradient flow.
      eta: step size.
      diverged_at: first invalid step, ``-1`` if none.
      wall_time: seconds of the training run (0 when loaded from the cache).
      checkpoint_steps, checkpoints: kept iterates (see ``checkpoint_every``).
    """

    steps: np.ndarray
    loss: np.ndarray
    eig_steps: np.ndarray
    sharpness: np.ndarray
    gfs_steps: np.ndarray
    phi: np.ndarray
    gf_reached: np.ndarray
    gf_grad_evals: np.ndarray
    gf_time: np.ndarray
    eta: float
    diverged_at: int
    wall_time: float
    checkpoint_steps: np.ndarray
    checkpoints: np.ndarray


def track_gfs_sharpness(setup: Setup, eta: float, num_steps: int, *, gfs_every: int = 100, eig_every: int = 10,
                        log_every: int = 10, loss_threshold: float = 1e-5, method: str = "rkc",
                        checkpoint_every: int = 0, settings: dict | None = None,
                        **solver_options: Any) -> GFSTrack:
    """Full-batch GD with ``lambda_max`` every ``eig_every`` steps and ``phi`` every ``gfs_every`` steps.

    Args:
      setup: from :func:`make_setup`.
      eta: step size, in ``(0, inf)``.
      num_steps: GD steps, in ``[1, inf)``.
      gfs_every: stride of the GFS sharpness, in ``[1, num_steps]``.
      eig_every: stride of the sharpness, in ``[1, num_steps]``.
      log_every: stride of the loss, in ``[1, num_steps]``.
      loss_threshold: gradient flow stops at this loss; it defines the GFS, in ``(0, inf)``.
      method: flow solver, ``"rkc"`` (adaptive, default), ``"tsit5"``, ``"dopri5"``,
        ``"bosh3"`` or ``"rk4"`` (the paper's, step ``alpha / lambda``).
      checkpoint_every: also keep the iterates every this many steps (0: none), in
        ``[0, num_steps]``; they are in ``GFSTrack.checkpoints``.
      settings: JSON-like description of the setup; enables the run cache of
        :func:`eoslib.train.train_gd`.
      **solver_options: passed to the flow solver (``rtol``, ``atol``, ``alpha``, ...).
    """
    eta = _positive("eta", eta)
    num_steps = _integer("num_steps", num_steps, 1)
    cb = callbacks.GFSSharpness(_integer("gfs_every", gfs_every, 1, num_steps), loss_threshold=loss_threshold,
                                method=method, **solver_options)
    cbs: list = [cb]
    if _integer("checkpoint_every", checkpoint_every, 0, num_steps):
        cbs.append(callbacks.Checkpoints(checkpoint_every))
    run = train.train_gd(setup.f, setup.w0, eta, num_steps, log_every=log_every, eig_every=eig_every,
                         callbacks=cbs, progress=False, settings=settings)
    rec = run.records[cb.name]
    ckpt = run.records.get("checkpoints", {})
    return GFSTrack(
        steps=np.asarray(run.steps), loss=np.asarray(run.loss), eig_steps=np.asarray(run.eig_steps),
        sharpness=np.asarray(run.eigenvalues)[:, 0], gfs_steps=np.asarray(rec["step"]),
        phi=np.asarray(rec["sharpness"]), gf_reached=np.asarray(rec["reached"], bool),
        gf_grad_evals=np.asarray(rec["grad_evals"]), gf_time=np.asarray(rec["time"]), eta=eta,
        diverged_at=int(run.diverged_at), wall_time=float(run.wall_time),
        checkpoint_steps=np.asarray(ckpt.get("step", np.zeros(0, int))),
        checkpoints=np.asarray(ckpt.get("w", np.zeros((0, setup.w0.shape[0])))))


class Acceptance(NamedTuple):
    """The monotonicity statistics of Figures 6, 12 and 13 for one run.

    Attributes:
      edge_step: first sharpness step with ``lambda_max >= 2 / eta`` (-1 if never).
      flat_deviation: ``max |phi_t / phi_ref - 1|`` over GFS steps in ``[flat_from, edge_step)``,
        ``phi_ref`` the first of them.
      num_changes: consecutive changes of ``phi`` from ``edge_step`` on.
      fraction_nonincreasing: fraction of those changes that are ``<= tol`` (relative).
      max_rise: largest relative rise ``(phi_{k+1} - phi_k) / phi_k`` among them (0 if none).
      final_ratio: last ``phi`` over ``2 / eta``.
      loss_rises: logged steps where the loss increased (EoS: the loss is not monotone).
    """

    edge_step: int
    flat_deviation: float
    num_changes: int
    fraction_nonincreasing: float
    max_rise: float
    final_ratio: float
    loss_rises: int


class SolverComparison(NamedTuple):
    """Gradient-flow solutions of the same iterates by several solvers.

    Attributes:
      methods: labels, e.g. ``("rkc rtol=1e-06", "rk4 alpha=1")``.
      phi: ``(num_methods, num_points)`` GFS sharpness.
      grad_evals: ``(num_methods, num_points)`` gradient evaluations.
      reached: ``(num_methods, num_points)`` whether the loss threshold was reached.
      time: ``(num_methods, num_points)`` flow time reached (at the threshold, or where the
        solver stopped short of it).
    """

    methods: tuple[str, ...]
    phi: np.ndarray
    grad_evals: np.ndarray
    reached: np.ndarray
    time: np.ndarray


def compare_solvers(setup: Setup, points, solvers: Sequence[tuple[str, str, dict]], *,
                    loss_threshold: float = 1e-5) -> SolverComparison:
    """Run gradient flow from each point with each solver (:mod:`eoslib.flow`).

    Args:
      setup: the network (its loss ``f``).
      points: iterates ``(P, D)``.
      solvers: ``(label, method, options)``; ``method`` is ``"rk4"`` or a method of
        :func:`eoslib.flow.gradient_flow`.
      loss_threshold: where every flow stops.
    """
    from eoslib import flow

    phi, evals, reached, times = [], [], [], []
    for _, method, opts in solvers:
        row = []
        for w in np.asarray(points):
            if method == "rk4":
                row.append(flow.gradient_flow_rk4(setup.f, jnp.asarray(w), loss_threshold=loss_threshold, **opts))
            else:
                row.append(flow.gradient_flow(setup.f, jnp.asarray(w), loss_threshold=loss_threshold,
                                              method=method, **opts))
        phi.append([r.sharpness for r in row])
        evals.append([r.num_grad_evals for r in row])
        reached.append([r.reached for r in row])
        times.append([r.time for r in row])
    return SolverComparison(tuple(s[0] for s in solvers), np.asarray(phi), np.asarray(evals), np.asarray(reached),
                            np.asarray(times))


def track_solver(track: GFSTrack, label: str, steps: Sequence[int]) -> SolverComparison:
    """The gradient flows that a run already solved at ``steps``, as one row of a comparison.

    A flow from a checkpoint with the track's own solver and options is exactly the flow the
    GFS callback solved at that step (same solver, same start, same seed), so a comparison
    reads it from the track instead of solving it again.

    Args:
      track: from :func:`track_gfs_sharpness`.
      label: the row's label, e.g. ``"rkc rtol=0.001"``.
      steps: GD steps, each one of ``track.gfs_steps``.

    Raises:
      ValueError: a step that is not a GFS step of the track.
    """
    idx = []
    for s in np.asarray(steps, dtype=int).ravel():
        hit = np.flatnonzero(track.gfs_steps == s)
        if not hit.size:
            raise ValueError(f"steps: {int(s)} is not a GFS step of the track (gfs_steps {track.gfs_steps.tolist()})")
        idx.append(int(hit[0]))
    return SolverComparison((label,), track.phi[idx][None], track.gf_grad_evals[idx][None],
                            track.gf_reached[idx][None], track.gf_time[idx][None])


def join_comparisons(*comparisons: SolverComparison) -> SolverComparison:
    """Stack solver comparisons of the same points (rows in the order given).

    Raises:
      ValueError: no comparison, or comparisons of different numbers of points.
    """
    if not comparisons:
        raise ValueError("comparisons: at least one is needed")
    if len({c.phi.shape[1] for c in comparisons}) != 1:
        raise ValueError("comparisons: all must cover the same points")
    return SolverComparison(sum((c.methods for c in comparisons), ()),
                            np.concatenate([c.phi for c in comparisons]),
                            np.concatenate([c.grad_evals for c in comparisons]),
                            np.concatenate([c.reached for c in comparisons]),
                            np.concatenate([c.time for c in comparisons]))


def acceptance(track: GFSTrack, *, flat_from: int = 0, tol: float = 0.0) -> Acceptance:
    """Figures 6/12/13 statistics: flat ``phi`` before the edge, monotone after, final ``phi`` vs ``2/eta``.

    Args:
      track: from :func:`track_gfs_sharpness`.
      flat_from: the flat window starts at the first GFS step ``>= flat_from`` (its ``phi`` is
        the reference), in ``[0, inf)``.
      tol: a relative change ``<= tol`` counts as non-increasing (the accuracy of the
        gradient-flow solutions), in ``[0, 1)``.
    """
    thr = 2.0 / track.eta
    hit = np.flatnonzero(track.sharpness >= thr)
    edge = int(track.eig_steps[hit[0]]) if hit.size else -1
    before = (track.gfs_steps < edge) if edge >= 0 else np.ones_like(track.gfs_steps, bool)
    before &= track.gfs_steps >= _integer("flat_from", flat_from, 0)
    ref = track.phi[np.argmax(before)] if before.any() else track.phi[0]
    flat = float(np.max(np.abs(track.phi[before] / ref - 1))) if before.any() else 0.0
    after = track.phi[track.gfs_steps >= edge] if edge >= 0 else track.phi[:0]
    rel = np.diff(after) / after[:-1] if after.size > 1 else np.zeros(0)
    return Acceptance(
        edge_step=edge, flat_deviation=flat, num_changes=int(rel.size),
        fraction_nonincreasing=float(np.mean(rel <= tol)) if rel.size else math.nan,
        max_rise=float(max(np.max(rel), 0.0)) if rel.size else 0.0,
        final_ratio=float(track.phi[-1] / thr), loss_rises=int(np.sum(np.diff(track.loss) > 0)))
