"""The run: one model of one experiment with one seed, whatever trains it.

:mod:`~efa.runs.layout` (the run directory's files), :mod:`~efa.runs.config` (the run
configuration, with the calculator and trainer specifications), :mod:`~efa.runs.trainer_spec`
(an external trainer's command and placeholders), :mod:`~efa.runs.capabilities` (what a model
takes and gives), :mod:`~efa.runs.data_record` (the data a run was trained on) and
:mod:`~efa.runs.directory` (the one writer of run files, reading them back). Every later stage
(training, predictors, evaluation, probes, report, workflow) reads runs through this package;
it imports none of them.
"""
