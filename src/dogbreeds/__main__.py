"""``python -m dogbreeds`` runs the command line."""

from dogbreeds.cli.program import main

raise SystemExit(main())
