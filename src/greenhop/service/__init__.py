"""The greenhop service: an HTTP API, Prometheus metrics and a live dashboard over a run's
database and event log (``greenhop serve``)."""
