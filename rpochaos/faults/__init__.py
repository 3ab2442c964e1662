"""Faults: each one is a context manager; entering injects it, leaving heals it.

``base`` (the contract), ``network`` (Toxiproxy: partition, latency, bandwidth), ``node``
(crash, pause, groups), ``shim`` (io_stall, clock_skew control files), ``archive``
(archive_fail); ``build`` turns a scheduled step into its fault (an action -> builder table)
and ``steps`` carries the schedule's steps out and records them in events.jsonl.
"""
