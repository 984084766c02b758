"""Chen & Bruna (2023), "Beyond the Edge of Stability via Two-step Gradient Updates".

One paper, split by model so that each file stays one topic:

* :mod:`~eoslib.papers.two_step.scalar` -- 1-D and 2-D theory: the two-step fixed point
  (Theorem 1, Lemma 1), base models (Props 1-2, Corollaries 1-8), the quartic
  ``1/4 (x^2 - mu)^2`` (Theorem 2), balancing on ``1/2 (xy - mu)^2`` (Theorem 3, Prop 3).
* :mod:`~eoslib.papers.two_step.relu_neuron` -- the single-neuron ReLU network (Theorem 4, Prop 4).
* :mod:`~eoslib.papers.two_step.matrix_factorization` -- matrix factorisation (Observations 1-2,
  Props 5-7, Theorem 6).
* :mod:`~eoslib.papers.two_step.experiments` -- Appendix B networks (teacher-student, ReLU MLPs).
"""
