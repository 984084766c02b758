"""``python -m eoslib`` is the ``eoslib`` command."""

from eoslib.cli import main

raise SystemExit(main())
