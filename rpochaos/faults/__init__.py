"""Faults: each one is a context manager; entering injects it, leaving heals it."""
