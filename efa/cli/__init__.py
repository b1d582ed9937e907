"""The ``efa`` command line: every command's argument parsing, on top of the stage packages.

:mod:`~efa.cli.main` assembles the commands; each module here adds one command (or a group) with
``register(subparsers)`` and calls the functions its stage package exports: ``efa data``
(:mod:`~efa.cli.data`), ``efa train`` (:mod:`~efa.cli.train`), ``efa evaluate``
(:mod:`~efa.cli.evaluate`), ``efa probe`` (:mod:`~efa.cli.probe`), ``efa predict``
(:mod:`~efa.cli.predict`), ``efa report`` (:mod:`~efa.cli.report`) and ``efa bench``
(:mod:`~efa.cli.bench`). Heavy imports (JAX, zarr) happen inside the handlers, so that
``efa --help`` stays fast.
"""
