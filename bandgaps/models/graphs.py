"""MEGNet's crystal graphs for a whole partition, built from NumPy arrays.

megnet builds one graph per structure in Python (a dictionary of lists per structure) and
assembles each batch with Python loops over the bonds. The neighbour search is the same call
here — pymatgen's Cython ``find_points_in_spheres``, with megnet's cutoff, tolerance, dtypes and
self-pair rule — but the graphs stay arrays, and a batch is assembled with array operations
(bond indices offset by ``np.repeat``; each distinct bond length expanded once, by the model's
own distance converter, in the network's float32). The inputs equal megnet's
(``tests/test_graphs.py`` compares them on every structure of the band-structure snapshot).

Examples:
    >>> from bandgaps.structures.alloys import silicon_cell
    >>> g = crystal_graph(silicon_cell(), cutoff=4.0)
    >>> len(g.numbers), len(g.index1), round(float(g.distances.min()), 3)
    (8, 128, 2.368)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bandgaps.errors import InputError

#: megnet's tolerance for a neighbour at zero distance (the site itself).
SELF_TOL = 1e-8


@dataclass
class CrystalGraph:
    """One structure's graph: atomic numbers, and each bond's two atoms and length.

    Attributes:
        numbers: atomic numbers, (n_atoms,) int64.
        index1: each bond's first atom, (n_bonds,) int32.
        index2: each bond's second atom, (n_bonds,) int32.
        distances: each bond's length in Å, (n_bonds,) float32.
    """

    numbers: np.ndarray  # (n_atoms,) int64
    index1: np.ndarray  # (n_bonds,) int32
    index2: np.ndarray  # (n_bonds,) int32
    distances: np.ndarray  # (n_bonds,) float32


def structure_arrays(structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays a neighbour search reads from an ordered structure.

    Args:
        structure: a pymatgen ``Structure`` with one species per site.

    Returns:
        ``(atomic numbers, Cartesian coordinates, lattice matrix)`` as int64, float64 (n, 3)
        and float64 (3, 3) arrays.
    """
    numbers = np.fromiter((site.specie.Z for site in structure), dtype=np.int64)
    cart = np.ascontiguousarray(structure.cart_coords, dtype=float)
    lattice = np.ascontiguousarray(structure.lattice.matrix, dtype=float)
    return numbers, cart, lattice


def neighbours(cart: np.ndarray, lattice: np.ndarray, cutoff: float):
    """Every pair of sites within ``cutoff`` in a periodic cell, the site itself left out, as
    megnet's ``get_graphs_within_cutoff`` returns them.

    Args:
        cart: Cartesian coordinates, (n, 3).
        lattice: the lattice vectors as rows, (3, 3).
        cutoff: the radius in Å.

    Returns:
        ``(centre, neighbour, distance)``: int32, int32 and float32 arrays, one entry per
        directed bond (each pair appears from both ends, once per periodic image).
    """
    from pymatgen.optimization.neighbors import find_points_in_spheres

    centre, neighbour, _, distance = find_points_in_spheres(
        cart, cart, r=float(cutoff), pbc=np.array([1, 1, 1]), lattice=lattice, tol=SELF_TOL
    )
    centre, neighbour = centre.astype(np.int32), neighbour.astype(np.int32)
    distance = distance.astype(np.float32)
    keep = (centre != neighbour) | (distance > SELF_TOL)
    return centre[keep], neighbour[keep], distance[keep]


def crystal_graph(structure, cutoff: float) -> CrystalGraph:
    """The crystal graph of one ordered structure.

    Args:
        structure: a pymatgen ``Structure`` with one species per site.
        cutoff: the neighbour radius of the model's graph converter, in Å.

    Returns:
        A ``CrystalGraph``.

    Raises:
        InputError: no two atoms lie within ``cutoff`` (isolated atoms).
    """
    numbers, cart, lattice = structure_arrays(structure)
    index1, index2, distances = neighbours(cart, lattice, cutoff)
    if len(index1) == 0:
        raise InputError(
            f"{structure.composition.reduced_formula}: no two atoms lie within {cutoff:g} Å "
            "(isolated atoms), so it has no crystal graph"
        )
    return CrystalGraph(numbers, index1, index2, distances)


def supports(converter) -> bool:
    """Whether a megnet graph converter builds the graphs this module builds: a fixed-radius
    crystal graph of atomic numbers with distances as bonds.

    Args:
        converter: a model's ``graph_converter``.

    Returns:
        ``True`` for the pretrained models' ``CrystalGraph``; ``False`` sends a caller to
        megnet's own converter.
    """
    from megnet.data.crystal import CrystalGraph as MegnetCrystalGraph
    from megnet.data.graph import DummyConverter

    return (
        type(converter) is MegnetCrystalGraph
        and isinstance(getattr(converter, "atom_converter", None), DummyConverter)
        and getattr(converter, "bond_converter", None) is not None
    )


def batches(graphs: list[CrystalGraph], converter, batch_size: int, state=None) -> list[list]:
    """megnet's model inputs for ``graphs``, batch by batch, as megnet's
    ``GraphBatchDistanceConvert`` assembles them, with array operations.

    Args:
        graphs: the structures' ``CrystalGraph``s.
        converter: the model's graph converter (its ``bond_converter`` expands the lengths).
        batch_size: graphs per batch.
        state: the (1, k) global state of every graph; default megnet's ``[[0, 0]]``.

    Returns:
        One list per batch of seven arrays, each with a leading axis of 1: atomic numbers,
        expanded bonds, states, the bonds' two atoms, and each atom's and bond's graph.
    """
    default = np.array([[0.0, 0.0]], dtype=np.float32) if state is None else state
    out = []
    for start in range(0, len(graphs), batch_size):
        chunk = graphs[start : start + batch_size]
        n_atoms = np.array([len(g.numbers) for g in chunk])
        n_bonds = np.array([len(g.index1) for g in chunk])
        offsets = np.repeat(np.cumsum(n_atoms) - n_atoms, n_bonds).astype(np.int32)
        graph_ids = np.arange(len(chunk), dtype=np.int32)
        # each distinct length expanded once (a crystal repeats a few lengths many times), in
        # the network's float32
        lengths, where = np.unique(
            np.concatenate([g.distances for g in chunk]), return_inverse=True
        )
        expanded = converter.bond_converter.convert(lengths).astype(np.float32)[where.ravel()]
        inputs = (
            np.concatenate([g.numbers for g in chunk]),
            expanded,
            np.concatenate([default] * len(chunk), axis=0),
            np.concatenate([g.index1 for g in chunk]) + offsets,
            np.concatenate([g.index2 for g in chunk]) + offsets,
            np.repeat(graph_ids, n_atoms),
            np.repeat(graph_ids, n_bonds),
        )
        out.append([a[None, ...] for a in inputs])
    return out


__all__ = ["CrystalGraph", "batches", "crystal_graph", "neighbours", "structure_arrays", "supports"]
