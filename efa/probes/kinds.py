"""The kinds of probe: what a probe's store holds, and so how the report draws it.

A probe (:mod:`efa.probes.registry`) names its kind; the kind goes into its store's ``kind``
attribute (:mod:`efa.probes.store`) and picks the store's figure
(:func:`efa.report.figures.probe_figure`). Kinds are members of :class:`ProbeKind`, never bare
strings; a store read back from disk compares equal to its member (``ProbeKind`` is a
``StrEnum``).
"""

from __future__ import annotations

import enum


class ProbeKind(enum.StrEnum):
    """What a probe store holds along its ``point`` dimension (or instead of one)."""

    #: energies and forces along a separation (two atoms, a reaction, a fragment pulled away)
    DISSOCIATION = "dissociation"
    #: energies along a torsion angle
    TORSION = "torsion"
    #: the force change on far atoms when a proton is added at one end (pairs of structures)
    CHARGE_TRANSFER = "charge_transfer"
    #: the force change on a molecule as a far ion or neutral atom moves away
    FAR_FRAGMENT = "far_fragment"
    #: the energy change as a fragment moves out beyond the receptive field
    REACH = "reach"
    #: energies of supercells or cutouts of growing size against exact Ewald sums
    FINITE_SIZE = "finite_size"
    #: energies of a charged slab against the vacuum between its images
    VACUUM = "vacuum"
    #: NVE molecular dynamics: energy drift and time to failure
    DYNAMICS = "dynamics"
    #: per-atom errors against system size (no ``point``: one entry per size)
    SIZE_SCAN = "size_scan"
    #: label-free physics checks (no ``point``)
    PHYSICS = "physics"
