"""Generated data sets: analytic potentials and GFN2-xTB labels via tblite.

:data:`GENERATORS` maps the generator names used in ``datasets/registry.yaml`` to functions
``f(num_structures=…, seed=…, **parameters) -> xr.Dataset`` (scans take no ``num_structures``).
"""

from efa.data.generators.analytic import charge_dipole, cluster, nacl_cluster, two_atoms

GENERATORS = {
    "two_atoms": two_atoms,
    "cluster": cluster,
    "nacl_cluster": nacl_cluster,
    "charge_dipole": charge_dipole,
}

__all__ = ["GENERATORS", "charge_dipole", "cluster", "nacl_cluster", "two_atoms"]
