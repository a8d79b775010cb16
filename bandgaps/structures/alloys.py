"""Si₁₋ₓGeₓ cells on the diamond lattice: enumerated, quasirandom, random and disordered.

* ``enumerated_cells`` — every symmetry-distinct Si/Ge derivative structure up to a number
  of atoms (icet's implementation of the Hart–Forcade enumeration that enumlib provides);
* ``sqs_cells`` — special quasirandom structures (icet, simulated annealing over a
  cluster space) in a fixed supercell;
* ``random_cells`` — random Ge substitutions in 64- and 216-atom supercells;
* ``disordered_cell`` — one two-atom cell with fractional Si/Ge occupancy on both sites.

Cells are returned as a table (``method``, ``x``, ``n_atoms``, ``structure``, …) with the
volume set by Vegard's law, ``a(x) = a_Si · [1 + x (a_Ge/a_Si − 1)]``: the Si lattice of the
pinned MP structure, stretched by the measured Ge/Si lattice-constant ratio, so the end members
keep MP's (PBE) Si scale. ``scale="none"`` leaves every cell at the Si lattice instead.

Examples:
    >>> cells = enumerated_cells(max_atoms=4)
    >>> len(cells), sorted(cells["n_atoms"].unique().tolist())
    (10, [2, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Lattice, Structure

from bandgaps.config import SEED
from bandgaps.errors import InputError

#: Measured room-temperature lattice constants (Å): Si 5.431, Ge 5.658 (e.g. Dismukes et al.,
#: J. Phys. Chem. 68, 3021 (1964)); only their ratio is used.
A_SI_EXP = 5.431
A_GE_EXP = 5.658
SCALES = ("vegard", "none")


def silicon_cell() -> Structure:
    """The 8-atom conventional diamond cell of Si (MP mp-149, PBE-relaxed)."""
    from bandgaps.data import catalog

    return catalog.load("si-mp-149")["structure"].iloc[0].copy()


def primitive_cell() -> Structure:
    """The 2-atom primitive diamond cell of Si."""
    return silicon_cell().get_primitive_structure()


def lattice_scale(x: float, scale: str = "vegard") -> float:
    """Linear scale factor of the Si cell at Ge fraction ``x``.

    Args:
        x: the Ge fraction.
        scale: ``vegard`` (the lattice constant by Vegard's law) or ``none`` (Si's).

    Returns:
        The factor (1 for ``none``).

    Examples:
        >>> round(lattice_scale(1.0), 4), lattice_scale(0.5, "none")
        (1.0418, 1.0)
    """
    if scale not in SCALES:
        raise InputError(f"scale must be one of {SCALES}, got {scale!r}")
    if scale == "none":
        return 1.0
    return 1.0 + x * (A_GE_EXP / A_SI_EXP - 1.0)


def _scaled(structure: Structure, x: float, scale: str) -> Structure:
    s = structure.copy()
    factor = lattice_scale(x, scale)
    s.scale_lattice(s.volume * factor**3)
    return s


def _ge_fraction(structure: Structure) -> float:
    comp = structure.composition.element_composition
    return float(comp["Ge"] / comp.num_atoms)


def _to_ase(structure: Structure):
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_atoms(structure)


def _from_ase(atoms) -> Structure:
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_structure(atoms)


def _table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["formula"] = [s.composition.reduced_formula for s in df["structure"]]
    return df


def enumerated_cells(max_atoms: int = 12, scale: str = "vegard") -> pd.DataFrame:
    """All symmetry-distinct Si/Ge decorations of diamond supercells (icet's enumeration).

    Args:
        max_atoms: the largest cell (an even number of atoms, 2 to 16).
        scale: ``vegard`` (the lattice constant by Vegard's law) or ``none`` (Si's).

    Returns:
        A table of cells: ``method``, ``x``, ``n_atoms``, ``seed``, ``formula`` and the
        ``structure``.
    """
    from icet.tools import enumerate_structures

    if max_atoms < 2 or max_atoms % 2:
        raise InputError("max_atoms must be an even number ≥ 2 (the primitive cell has 2 atoms)")
    prim = _to_ase(primitive_cell())
    rows = []
    for i, atoms in enumerate(
        enumerate_structures(prim, range(1, max_atoms // 2 + 1), [["Si", "Ge"]] * 2)
    ):
        s = _from_ase(atoms)
        x = _ge_fraction(s)
        rows.append(
            {
                "method": "enumerated",
                "x": x,
                "n_atoms": len(s),
                "seed": i,
                "structure": _scaled(s, x, scale),
            }
        )
    return _table(rows)


def _sqs_atoms(task: tuple) -> object:
    """One SQS (ASE ``Atoms``): icet's annealing for ``(primitive, supercell, cutoffs, Ge
    count, steps, seed)``. A module-level function so that a process pool can run it."""
    from icet import ClusterSpace
    from icet.tools.structure_generation import generate_sqs_from_supercells

    prim, sup, cutoffs, n_ge, n_steps, seed = task
    cs = ClusterSpace(prim, cutoffs=list(cutoffs), chemical_symbols=[["Si", "Ge"]] * 2)
    n = len(sup)
    return generate_sqs_from_supercells(
        cs, [sup], {"Si": 1 - n_ge / n, "Ge": n_ge / n}, n_steps=n_steps, random_seed=seed
    )


def sqs_cells(
    xs: Sequence[float] = tuple(np.round(np.arange(0.1, 0.91, 0.1), 2)),
    supercell: tuple[int, int, int] = (2, 2, 2),
    cutoffs: Sequence[float] = (7.0, 5.0),
    n_steps: int = 10_000,
    random_state: int = SEED,
    scale: str = "vegard",
    workers: int | None = None,
) -> pd.DataFrame:
    """Special quasirandom structures at each x in a repeated conventional cell (64 atoms).

    The Ge count is ``round(x · N)``; the table's ``x`` is the fraction actually realised.
    Each x anneals with its own seed, so ``workers`` processes (default: one per core, at most
    one per x) give the same cells as one.

    Args:
        xs: the Ge fractions.
        supercell: repetitions of the conventional cell.
        cutoffs: icet's cluster-space cutoffs (pairs, triplets) in Å.
        n_steps: annealing steps per x.
        random_state: the first x's seed.
        scale: ``vegard`` (the lattice constant by Vegard's law) or ``none`` (Si's).
        workers: processes annealing side by side.

    Returns:
        A table of cells, as ``enumerated_cells``.
    """
    import os

    prim = _to_ase(primitive_cell())
    sup = _to_ase(silicon_cell()).repeat(supercell)
    n = len(sup)
    tasks = []
    for k, x in enumerate(xs):
        n_ge = round(x * n)
        if not 0 < n_ge < n:
            raise InputError(f"x = {x} leaves no Si–Ge mixing in a {n}-atom cell")
        tasks.append((prim, sup, tuple(cutoffs), n_ge, n_steps, random_state + k))
    workers = min(len(tasks), workers or os.cpu_count() or 1)
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawned, not forked: the caller may hold TensorFlow's threads
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            annealed = list(pool.map(_sqs_atoms, tasks))
    else:
        annealed = [_sqs_atoms(t) for t in tasks]
    rows = []
    for task, atoms in zip(tasks, annealed, strict=True):
        s = _from_ase(atoms)
        xr = _ge_fraction(s)
        rows.append(
            {
                "method": "sqs",
                "x": xr,
                "n_atoms": n,
                "seed": task[-1],
                "structure": _scaled(s, xr, scale),
            }
        )
    return _table(rows)


def random_cells(
    xs: Sequence[float] = tuple(np.round(np.arange(0.0, 1.01, 0.1), 2)),
    sizes: Sequence[int] = (64, 216),
    n_seeds: int = 5,
    random_state: int = SEED,
    scale: str = "vegard",
) -> pd.DataFrame:
    """Random Ge substitutions in cubic supercells of the conventional cell.

    Args:
        xs: the Ge fractions.
        sizes: cell sizes, 8·n³ atoms (64, 216, …).
        n_seeds: cells per fraction and size.
        random_state: the first seed.
        scale: ``vegard`` (the lattice constant by Vegard's law) or ``none`` (Si's).

    Returns:
        A table of cells, as ``enumerated_cells``.
    """
    rng = np.random.default_rng(random_state)
    rows = []
    for size in sizes:
        reps = round((size / 8) ** (1 / 3))
        if 8 * reps**3 != size:
            raise InputError(f"size must be 8·n³ atoms (64, 216, 512, …), got {size}")
        base = silicon_cell()
        base.make_supercell([reps] * 3)
        for x in xs:
            n_ge = round(x * size)
            for k in range(n_seeds):
                s = base.copy()
                for i in rng.choice(size, n_ge, replace=False):
                    s.replace(int(i), "Ge")
                xr = _ge_fraction(s)
                rows.append(
                    {
                        "method": f"random {size}",
                        "x": xr,
                        "n_atoms": size,
                        "seed": k,
                        "structure": _scaled(s, xr, scale),
                    }
                )
    return _table(rows)


def disordered_cell(x: float, scale: str = "vegard") -> Structure:
    """The 2-atom diamond cell with occupancy Si(1-x)Ge(x) on both sites.

    Args:
        x: the Ge fraction.
        scale: ``vegard`` (the lattice constant by Vegard's law) or ``none`` (Si's).

    Returns:
        The disordered ``Structure`` (for ``megnet-mf-disorder``).

    Examples:
        >>> disordered_cell(0.25)[0].species.as_dict()
        {'Si': 0.75, 'Ge': 0.25}
    """
    prim = primitive_cell()
    species = [{"Si": 1 - x, "Ge": x} if 0 < x < 1 else ("Ge" if x >= 1 else "Si")] * len(prim)
    s = Structure(Lattice(prim.lattice.matrix), species, prim.frac_coords)
    return _scaled(s, x, scale)


def write_cells(cells: pd.DataFrame, out_dir: str | Path, fmt: str = "cif") -> list[Path]:
    """Write each cell as CIF or extended XYZ, each file atomically.

    Args:
        cells: a table of cells (``enumerated_cells``, ``sqs_cells``, ``random_cells``).
        out_dir: the folder (created if need be).
        fmt: ``cif`` or ``extxyz``.

    Returns:
        The files' paths, in the table's order.
    """
    from bandgaps.files import atomic_path

    if fmt not in {"cif", "extxyz"}:
        raise InputError(f"format must be cif or extxyz, got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, row in enumerate(cells.itertuples(index=False)):
        name = f"{i:05d}_{row.method.replace(' ', '')}_{row.formula}.{fmt}"
        target = out / name
        with atomic_path(target, suffix=f".{fmt}") as tmp:
            if fmt == "cif":
                row.structure.to(filename=str(tmp), fmt="cif")
            else:
                from ase.io import write

                write(str(tmp), _to_ase(row.structure), format="extxyz")
        paths.append(target)
    return paths
