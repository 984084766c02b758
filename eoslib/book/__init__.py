"""The pipeline behind the ``eoslib`` command: catalog, notebook runner, provenance, ledger.

* :mod:`eoslib.book.parameters` -- the declarations of a notebook's ``parameters`` cell and
  their validation (standard library only: the kernel's injected session cell uses it).
* :mod:`eoslib.book.catalog` -- the checkout's layout and ``notebooks/catalog.yml``.
* :mod:`eoslib.book.provenance` -- staleness keys, the clean commit, rerun commands.
* :mod:`eoslib.book.manifest` -- ``book/_manifest.json`` and what an executed notebook reports
  (check kinds, verdicts).
* :mod:`eoslib.book.runner` -- executes one notebook with papermill, atomically.
* :mod:`eoslib.book.ledger` -- the generated pages: ledger, ``_toc.yml``, chapter item tables,
  API reference.
* :mod:`eoslib.book.cli` -- the ``eoslib`` command.

Nothing here imports jax. The third-party pieces (pyyaml, jupytext, papermill, nbformat) come
with the ``book`` extra and are imported where they are used, so ``eoslib --help`` is instant.
"""
