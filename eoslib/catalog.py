"""Moved to :mod:`eoslib.book.catalog` (the pipeline is its own subpackage).

Kept only so that ``notebooks/two_step/figure_13.md`` (``from eoslib import catalog``) runs until
it imports ``eoslib.book.catalog``; remove this file then.
"""

from eoslib.book.catalog import *  # noqa: F401,F403
