"""``python -m greenhop`` runs the command-line interface."""

from greenhop.cli.main import main

main()
