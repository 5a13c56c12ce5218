"""``python -m botkit``: the same as the ``botkit`` command."""

from botkit.cli.main import main

raise SystemExit(main())
