"""Damian, Nichani and Lee (2023), "Self-Stabilization: The Implicit Bias of Gradient Descent
at the Edge of Stability".

One paper, split by topic so that each file stays one subject:

* :mod:`~eoslib.papers.self_stabilization.toy` -- the Appendix B toy model, its damped (B.1)
  and quartic (App. F) variants, the simplified dynamics (eq. 3) and the four stages.
* :mod:`~eoslib.papers.self_stabilization.ode` -- the ODE (eq. 4), its conserved quantity
  (Lemma 3) and the orbit bounds of Corollary 1.
* :mod:`~eoslib.papers.self_stabilization.oracles` -- ``grad S = nabla^3 L(u, u)``,
  ``nabla^4 L(v, v, v)``, ``rho_3``/``rho_4`` by power iteration, warm-started sign-fixed top
  eigenpairs (algorithms A1-A2).
* :mod:`~eoslib.papers.self_stabilization.constrained` -- run to instability, projection onto
  the stable set, the constrained trajectory (A3-A5).
* :mod:`~eoslib.papers.self_stabilization.predicted` -- the predicted dynamics (Definitions 7-8,
  the reference-code form, the generalised form of App. F), ``beta_{s->t}`` and Lemma 4 (A6, A8).
* :mod:`~eoslib.papers.self_stabilization.tracking` -- the cached tracked run (GD, constrained
  trajectory, predictions, gradient flow, the central flow) that Figure 4, Theorem 1, Lemma 4
  and Appendix E share.
* :mod:`~eoslib.papers.self_stabilization.diagnostics` -- the Appendix E diagnostics (A9).
* :mod:`~eoslib.papers.self_stabilization.analysis` -- summaries of a tracked run.
* :mod:`~eoslib.papers.self_stabilization.experiments` -- plain GD runs for Figures 1, 5, 6.
* :mod:`~eoslib.papers.self_stabilization.scale_invariant` -- Appendix H (Lemmas 6-11).
* :mod:`~eoslib.papers.self_stabilization.problems`,
  :mod:`~eoslib.papers.self_stabilization.descent`,
  :mod:`~eoslib.papers.self_stabilization.plots` -- networks and data of the figures, Lemma 1's
  test losses, the long figures.
"""

# The submodules are not imported here: a notebook that uses one of them depends (for the
# book's staleness keys) on that module and its imports only.
__all__ = ["analysis", "constrained", "descent", "diagnostics", "experiments", "ode", "oracles",
           "plots", "predicted", "problems", "scale_invariant", "toy", "tracking"]
