"""``python -m greenhop`` runs the command-line interface."""

from greenhop.cli import entry

entry()
