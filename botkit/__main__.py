"""``python -m botkit``: the same as the ``botkit`` command."""

from botkit.cli import main

raise SystemExit(main())
