"""Generated data sets: analytic potentials and GFN2-xTB labels via tblite.

:data:`GENERATORS` maps the generator names used in ``datasets/registry.yaml`` to functions
returning a canonical ``xr.Dataset``. Training sets take ``num_structures`` and ``seed``; scans
take ``num_points`` (and no seed); the probe pairs take ``num_pairs`` and ``seed``.
"""

from efa.data.generators.analytic import (
    charge_dipole,
    cluster,
    far_fragment,
    nacl_cluster,
    two_atoms,
)
from efa.data.generators.carbon_chain import carbon_chain, carbon_chain_probe
from efa.data.generators.cumulene import cumulene, cumulene_torsion
from efa.data.generators.nacl_crystal import nacl_crystal
from efa.data.generators.sn2 import sn2, sn2_scan

GENERATORS = {
    function.__name__: function
    for function in (
        two_atoms,
        cluster,
        nacl_cluster,
        nacl_crystal,
        charge_dipole,
        far_fragment,
        cumulene,
        cumulene_torsion,
        sn2,
        sn2_scan,
        carbon_chain,
        carbon_chain_probe,
    )
}

__all__ = [
    "GENERATORS",
    "carbon_chain",
    "carbon_chain_probe",
    "charge_dipole",
    "cluster",
    "cumulene",
    "cumulene_torsion",
    "far_fragment",
    "nacl_cluster",
    "nacl_crystal",
    "sn2",
    "sn2_scan",
    "two_atoms",
]
