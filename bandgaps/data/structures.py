"""Reading crystal structures from files with one clear error per broken file."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
from pymatgen.core import Element, Structure

from bandgaps.errors import InputError

#: Two sites closer than this (Å) are the same atom written twice, not a crystal.
MIN_SITE_DISTANCE = 0.5
#: A cell smaller than this (Å³) is degenerate: flat, or a scale that shrank it to nothing.
MIN_CELL_VOLUME = 1.0
#: A CIF cell length that is zero or negative (pymatgen would flip the vector and go on).
_NEGATIVE_CIF_LENGTH = re.compile(
    r"^\s*_cell_length_[abc]\s+(?:-|0*(?:\.0*)?(?:\(\d+\))?\s*$)", re.M
)


def read_structure(file: str | Path) -> Structure:
    """Read a POSCAR/CONTCAR, CIF, extended XYZ or any format pymatgen recognises by name.

    Args:
        file: the structure file.

    Returns:
        The ``Structure``, checked as ``parse_structure`` checks it.

    Examples:
        >>> from bandgaps.data.catalog import path
        >>> read_structure(path("si-mp-149")).composition.reduced_formula
        'Si'
    """
    file = Path(file)
    if not file.is_file():
        raise InputError(f"No such structure file: {file}")
    if text_format(file.name) is None:  # another format pymatgen knows by its file name
        return _checked(lambda: Structure.from_file(file), file, file.read_bytes())
    try:
        text = file.read_text()
    except UnicodeDecodeError:
        raise InputError(f"Cannot read a crystal structure from {file}: not a text file") from None
    return parse_structure(text, file)


def text_format(name: str | Path) -> str | None:
    """The format of a structure text by its file name: ``cif``, ``extxyz``, ``poscar`` (a name
    holding POSCAR or CONTCAR, or ``*.vasp``), or ``None`` for anything else.

    Args:
        name: a file name or path (``cells.extxyz#12`` names frame 12 of an XYZ file).

    Returns:
        The format, or ``None``.

    Examples:
        >>> text_format("cells/POSCAR_3"), text_format("GaAs.poscar"), text_format("a.cif")
        ('poscar', 'poscar', 'cif')
        >>> text_format("x.json") is None
        True
        >>> text_format("cells.extxyz#12")
        'extxyz'
    """
    name = Path(str(name).split("#")[0]).name  # "cells.extxyz#12": frame 12 of an XYZ file
    suffix = Path(name).suffix.lower()
    if suffix == ".cif":
        return "cif"
    if suffix in {".xyz", ".extxyz"}:
        return "extxyz"
    if suffix == ".vasp" or "poscar" in name.lower() or "contcar" in name.lower():
        return "poscar"  # pymatgen's own rule (*POSCAR*, *CONTCAR*, *.vasp), any case
    return None


def parse_structure(text: str, name: str | Path) -> Structure:
    """A structure from the text of a file, with the checks of ``read_structure``.

    Args:
        text: the file's content.
        name: the file's name: it gives the format (POSCAR when it does not say) and names
            the file in errors.

    Returns:
        The ``Structure``.

    Raises:
        InputError: empty, unparsable, unknown elements, overlapping sites, a degenerate cell.
    """
    fmt = text_format(name) or "poscar"

    def parse() -> Structure:
        if fmt == "extxyz":
            # extended XYZ (with a lattice) through ASE, which pymatgen does not read
            from ase.io import read
            from pymatgen.io.ase import AseAtomsAdaptor

            return AseAtomsAdaptor.get_structure(read(io.StringIO(text), format="extxyz"))
        return Structure.from_str(text, fmt=fmt)

    return _checked(parse, name, text)


def _checked(parse, name, content) -> Structure:
    if not content.strip():
        raise InputError(f"Structure file is empty: {name}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = parse()
    except Exception as exc:  # pymatgen raises many types for malformed files
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"Cannot read a crystal structure from {name}: {detail}") from None
    if len(structure) == 0:
        raise InputError(f"Structure file holds no atoms: {name}")
    unknown = sorted({el.symbol for el in structure.composition if not isinstance(el, Element)})
    if unknown:  # pymatgen reads a symbol it does not know as a placeholder ("dummy") species
        raise InputError(
            f"Structure file {name} names unknown element(s) {', '.join(unknown)}; "
            "use element symbols (Si, Ge, Ga, …)"
        )
    if not np.isfinite(structure.lattice.matrix).all() or structure.volume < MIN_CELL_VOLUME:
        raise InputError(
            f"Structure file {name}: its cell is degenerate (volume {structure.volume:.3g} Å³); "
            "fix the lattice vectors"
        )
    if isinstance(content, str) and _NEGATIVE_CIF_LENGTH.search(content):
        raise InputError(
            f"Structure file {name}: a cell length (_cell_length_a/b/c) is zero or negative; "
            "fix the file"
        )
    if _overlapping(structure):
        raise InputError(
            f"Structure file {name} has sites closer than {MIN_SITE_DISTANCE} Å to each other "
            "(overlapping atoms); fix the file"
        )
    return structure


def _overlapping(structure: Structure) -> bool:
    """Whether two sites (or a site and a periodic image of itself) lie within
    ``MIN_SITE_DISTANCE``: a neighbour search of that radius (pymatgen's Cython
    ``find_points_in_spheres``), not the full distance matrix of ``Structure.is_valid``."""
    from pymatgen.optimization.neighbors import find_points_in_spheres

    cart = np.ascontiguousarray(structure.cart_coords, dtype=float)
    centre, neighbour, _, distance = find_points_in_spheres(
        cart,
        cart,
        r=MIN_SITE_DISTANCE,
        pbc=np.array([1, 1, 1]),
        lattice=np.ascontiguousarray(structure.lattice.matrix, dtype=float),
        tol=1e-8,
    )
    return bool(((centre != neighbour) | (distance > 1e-8)).any())
