"""Training of energy models (``efa train``; ``efa evaluate`` is :mod:`efa.evaluate`).

Modules: :mod:`~efa.train.config` (run configuration), :mod:`~efa.train.objective` (predictions,
loss, errors), :mod:`~efa.train.optimizer`, :mod:`~efa.train.checkpoints` (orbax),
:mod:`~efa.train.log` (JSON-lines log), :mod:`~efa.train.loop` (the training loop),
:mod:`~efa.train.run` (run directories, loading trained models), :mod:`~efa.train.data_record`
(the data a run was trained on) and :mod:`~efa.train.commands` (the command line). Nothing heavy
is imported here, so that ``efa --help`` stays fast.
"""
