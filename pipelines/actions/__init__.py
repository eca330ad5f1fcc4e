"""Guarded automatic actions: the pure guard (guard.py) and the `vigie service actions` adapter (service.py)."""
