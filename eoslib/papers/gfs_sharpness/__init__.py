"""Kreisler, Shpigel Nacson, Soudry & Carmon (2023), "Gradient Descent Monotonically Decreases
the Sharpness of Gradient Flow Solutions in Scalar Networks and Beyond".

One paper, split by topic so that each file stays one subject:

* :mod:`~eoslib.papers.gfs_sharpness.scalar` -- the scalar network ``1/2 (prod w - 1)^2``:
  gradient, Hessian, balances (Eqs. 8-15), the GF solution and its sharpness by a
  vectorised bracketed root-find, GPGD and its product map, a diffrax reference for GF.
* :mod:`~eoslib.papers.gfs_sharpness.invariant` -- the invariant set ``S`` (Def. 3.1,
  App. I), the balance quasi-order (Def. 3.4) and log-majorisation (Def. 3.6).
* :mod:`~eoslib.papers.gfs_sharpness.samplers` -- random networks for the lemma checks.
* :mod:`~eoslib.papers.gfs_sharpness.dynamics` -- GD runs with their GFS sharpness, grids
  of slice initialisations, GPGD orbits and their periods.
* :mod:`~eoslib.papers.gfs_sharpness.regression` -- the squared regression model (Sec. 4.1):
  GFS by Newton on a convex dual, its sharpness, the flattest interpolator.
* :mod:`~eoslib.papers.gfs_sharpness.networks` -- GFS sharpness tracked along full-batch GD
  of real networks (Sec. 4.2).
* :mod:`~eoslib.papers.gfs_sharpness.plots` -- the multi-panel figures.
"""
