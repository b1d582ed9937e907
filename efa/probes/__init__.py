"""Probes: structure families that show where a force field's reach ends.

``run_probe(name, models, **options)`` evaluates one probe of :data:`PROBES` (dissociation,
torsion, charge transfer, reach) and returns its store; :func:`size_scan` evaluates the per-atom
error against system size. Models are :class:`ProbeModel` s, loaded from runs by
:func:`load_probe_model`.
"""

from efa.probes.definitions import PROBES, SIZE_SCAN_PROBES, all_probe_names, run_probe, size_scan
from efa.probes.models import ProbeModel, load_probe_model

__all__ = [
    "PROBES", "SIZE_SCAN_PROBES", "ProbeModel", "all_probe_names", "load_probe_model", "run_probe",
    "size_scan",
]
