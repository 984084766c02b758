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
"""

from eoslib.papers.self_stabilization import ode, oracles, toy

__all__ = ["ode", "oracles", "toy"]
