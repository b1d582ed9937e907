"""Training of energy models (``efa train``; ``efa evaluate`` is :mod:`efa.evaluate`).

Modules: :mod:`~efa.train.objective` (predictions, loss, errors), :mod:`~efa.train.optimizer`,
:mod:`~efa.train.checkpoints` (orbax), :mod:`~efa.train.log` (JSON-lines log),
:mod:`~efa.train.loop` (the training loop), :mod:`~efa.train.trained_model` (loading a trained
model from its run directory) and :mod:`~efa.train.commands` (the command line). The run
configuration and directory are :mod:`efa.runs`. Nothing heavy is imported here, so that
``efa --help`` stays fast.
"""
