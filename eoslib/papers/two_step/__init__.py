"""Chen & Bruna (2023), "Beyond the Edge of Stability via Two-step Gradient Updates".

One paper, split by topic (siblings import each other's public names only):

* :mod:`~eoslib.papers.two_step.one_d` -- the two-step fixed point in 1-D (Theorem 1, Lemma 1),
  test functions, GD tails.
* :mod:`~eoslib.papers.two_step.base_models` -- squared loss on base models (Proposition 1,
  Corollaries 1-8) and the composition rule (Proposition 2).
* :mod:`~eoslib.papers.two_step.quartic` -- ``1/4 (x^2 - mu)^2``: the period-2 orbit
  ``delta_{1,2}`` used by every section, Theorem 2, the period-doubling cascade.
* :mod:`~eoslib.papers.two_step.product_2d` -- ``1/2 (xy - mu)^2``: balancing (Theorem 3,
  Lemma 2, Proposition 3).
* :mod:`~eoslib.papers.two_step.stable_sets` -- the stable set of Damian et al. (Propositions 5-7,
  Figure 3).
* :mod:`~eoslib.papers.two_step.relu_neuron` -- the single-neuron ReLU network (Theorem 4,
  Proposition 4, Figure 5).
* :mod:`~eoslib.papers.two_step.matrix_factorization` -- matrix factorisation (Observations 1-2,
  Proposition 7, Theorem 6, Figures 1, 2, 6).
* :mod:`~eoslib.papers.two_step.experiments` -- Appendix B networks (teacher-student, ReLU MLPs).
* :mod:`~eoslib.papers.two_step.plots`, :mod:`~eoslib.papers.two_step.plots_2d`,
  :mod:`~eoslib.papers.two_step.plots_models` -- the figures' plotting code (1-D functions, the 2-D
  function and stable sets, the models).

The stability number ``3 f'''^2 - f'' f''''`` is :func:`eoslib.losses.product_stability`, and a
1-D objective is an :class:`eoslib.losses.ScalarLoss`.
"""
