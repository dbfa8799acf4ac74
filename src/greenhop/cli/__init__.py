"""Composition root: the ``greenhop`` command line."""
