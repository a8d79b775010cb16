"""Reading crystal structures from files with one clear error per broken file."""

from __future__ import annotations

import io
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
    if text_format(file.name) is None:  # another format pymatgen knows by its file name
        return _checked(lambda: Structure.from_file(file), file, file.read_bytes())
    try:
        text = file.read_text()
    except UnicodeDecodeError:
        raise InputError(f"Cannot read a crystal structure from {file}: not a text file") from None
    return parse_structure(text, file)


def text_format(name: str | Path) -> str | None:
    """The format of a structure text by its file name: ``cif``, ``extxyz``, ``poscar`` (POSCAR,
    CONTCAR, ``*.vasp``), or ``None`` for anything else.

    Examples:
        >>> text_format("cells/POSCAR_3"), text_format("a.cif"), text_format("x.json")
        ('poscar', 'cif', None)
        >>> text_format("cells.extxyz#12")
        'extxyz'
    """
    name = Path(str(name).split("#")[0]).name  # "cells.extxyz#12": frame 12 of an XYZ file
    suffix = Path(name).suffix.lower()
    if suffix == ".cif":
        return "cif"
    if suffix in {".xyz", ".extxyz"}:
        return "extxyz"
    if suffix == ".vasp" or name.upper().startswith(("POSCAR", "CONTCAR")):
        return "poscar"
    return None


def parse_structure(text: str, name: str | Path) -> Structure:
    """A structure from the text of a file called ``name`` (its format from the name; POSCAR
    when the name does not say), with the checks of ``read_structure``."""
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
    if len(structure) > 1 and not structure.is_valid(tol=MIN_SITE_DISTANCE):
        raise InputError(
            f"Structure file {name} has sites closer than {MIN_SITE_DISTANCE} Å to each other "
            "(overlapping atoms); fix the file"
        )
    return structure
