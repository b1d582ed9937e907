"""The logic of the Snakemake workflow, in one place.

:mod:`efa.workflow.config` checks a configuration completely before any job runs and derives
the ``efa train`` settings of each run; :mod:`efa.workflow.plan` turns a validated configuration
into paths, targets, job resources and each job's arguments. ``workflow/rules/*.smk`` only
declare rules on top of a :class:`~efa.workflow.plan.Plan`.
"""
