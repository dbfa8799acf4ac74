"""Readers for real energy data, the Trace type, the site energy model and surplus windows."""
