"""``python -m eoslib`` is the ``eoslib`` command."""

from eoslib.book.cli import main

raise SystemExit(main())
