"""Loaders of published benchmarks, one plugin each: ``csn``, ``cosqa``, ``xlcost``, ``coir``.

Each reads a local copy (``--data-dir``) or, online, the hub through
``datasets``; each checks its input whole before anything runs and names the
file and line of the first problem (``common``). Registering imports nothing
heavy: ``datasets`` is imported only when the hub is read (``hub``).
"""
