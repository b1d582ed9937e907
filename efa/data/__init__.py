"""Data sets: canonical format and validation, registry, fetch, readers, generators, splits.

Everything lands in one canonical format (:mod:`efa.data.schema`) stored as
``datasets/<name>.zarr`` (:mod:`efa.data.store`); ``efa data …`` is the command line
(:mod:`efa.cli.data`).
"""
