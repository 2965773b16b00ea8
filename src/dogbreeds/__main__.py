"""``python -m dogbreeds`` runs the command line."""

from dogbreeds.cli import main

raise SystemExit(main())
