"""Probes: structure families that show where a force field's reach ends.

``run_probe(name, models, **options)`` evaluates one probe of :data:`PROBES` (each of a
:class:`~efa.probes.kinds.ProbeKind`: dissociation, torsion, charge transfer, far fragment,
reach, finite size, vacuum, dynamics, physics checks) and returns its store; :func:`size_scan`
evaluates the per-atom error against system size; :func:`efa.probes.job.probe_runs` runs a
probe over run directories. Models are :class:`Predictor` s, loaded from runs by
:func:`load_predictor`.
"""

from efa.predictors import Predictor, load_predictor
from efa.probes.registry import PROBES, SIZE_SCAN_PROBES, all_probe_names, run_probe
from efa.probes.size_scan import size_scan

__all__ = [
    "PROBES",
    "SIZE_SCAN_PROBES",
    "Predictor",
    "all_probe_names",
    "load_predictor",
    "run_probe",
    "size_scan",
]
