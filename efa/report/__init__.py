"""The report: tables, figures, ``metrics.json`` and quality targets from the result stores.

``efa report`` (:mod:`efa.cli.report`) reads the test-metric stores (dims experiment, model,
seed) and the probe stores (:mod:`efa.probes.store`) and writes, under an output directory,
``tables/*.md|csv`` (:mod:`efa.report.tables`), ``figures/*.png`` (:mod:`efa.report.figures`)
and ``metrics.json``; it prints the quality targets (:mod:`efa.report.targets`).
"""
