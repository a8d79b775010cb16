"""Reading crystal structures from files with one clear error per broken file."""

from __future__ import annotations

import warnings
from pathlib import Path

from pymatgen.core import Structure

from bandgaps.errors import InputError

#: Two sites closer than this (Å) are the same atom written twice, not a crystal.
MIN_SITE_DISTANCE = 0.5


def read_structure(file: str | Path) -> Structure:
    """Read a POSCAR/CONTCAR, CIF, extended XYZ or any format pymatgen recognises by name.

    Examples:
        >>> from bandgaps.data.catalog import path
        >>> read_structure(path("si-mp-149")).composition.reduced_formula
        'Si'
    """
    file = Path(file)
    if not file.is_file():
        raise InputError(f"No such structure file: {file}")
    if file.stat().st_size == 0 or not file.read_bytes().strip():
        raise InputError(f"Structure file is empty: {file}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if file.suffix.lower() in {".extxyz", ".xyz"}:
                # extended XYZ (with a lattice) through ASE, which pymatgen does not read
                from ase.io import read
                from pymatgen.io.ase import AseAtomsAdaptor

                structure = AseAtomsAdaptor.get_structure(read(file, format="extxyz"))
            else:
                structure = Structure.from_file(file)
    except Exception as exc:  # pymatgen raises many types for malformed files
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"Cannot read a crystal structure from {file}: {detail}") from None
    if len(structure) == 0:
        raise InputError(f"Structure file holds no atoms: {file}")
    if len(structure) > 1 and not structure.is_valid(tol=MIN_SITE_DISTANCE):
        raise InputError(
            f"Structure file {file} has sites closer than {MIN_SITE_DISTANCE} Å to each other "
            "(overlapping atoms); fix the file"
        )
    return structure
