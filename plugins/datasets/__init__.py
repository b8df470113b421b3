"""Loaders of published benchmarks, one plugin each: ``csn``, ``cosqa``, ``xlcost``,
``coir`` (retrieval) and ``repopeft`` (completion).

Each reads a local copy (``--data-dir``) or, online, the hub through
``datasets``; each checks its input whole before anything runs and names the
file and line of the first problem (``common``). Registering imports nothing
heavy: ``datasets`` is imported only when the hub is read (``hub``).

The modules every data plugin shares (these and ``local``) live here too, so
that no data plugin imports another: ``common`` (reading and checking files,
the ``--limit`` rule), ``completion_common`` (completion splits and
partitions), ``publish`` (a folder published whole) and ``python_docstrings``
(a Python function without its docstring).
"""
