"""``python -m soundsafe`` runs the command line."""

from soundsafe.cli.main import main

raise SystemExit(main())
