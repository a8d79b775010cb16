"""Compatibility shims that let megnet 1.3.2 run on the pinned, current pymatgen.

megnet 1.3.2 imports ``BrunnerNN_real``, ``BrunnerNN_reciprocal`` and ``BrunnerNN_relative``
from ``pymatgen.analysis.local_env``; pymatgen has since renamed them ``BrunnerNNReal`` and
so on. ``import_megnet`` adds the old names as aliases (only where missing) and then imports
megnet, so every module of this package goes through it instead of ``import megnet``.
"""

from __future__ import annotations

import os
from types import ModuleType

#: old name used by megnet 1.3.2 -> current pymatgen name
BRUNNER_ALIASES = {
    "BrunnerNN_real": "BrunnerNNReal",
    "BrunnerNN_reciprocal": "BrunnerNNReciprocal",
    "BrunnerNN_relative": "BrunnerNNRelative",
}


def patch_pymatgen() -> None:
    """Add the old Brunner class names to pymatgen's ``local_env`` module (idempotent).

    Examples:
        >>> patch_pymatgen()
        >>> import pymatgen.analysis.local_env as le
        >>> le.BrunnerNN_real is le.BrunnerNNReal
        True
    """
    import pymatgen.analysis.local_env as local_env

    for old, new in BRUNNER_ALIASES.items():
        if not hasattr(local_env, old):
            setattr(local_env, old, getattr(local_env, new))


def import_megnet() -> ModuleType:
    """Patch pymatgen, quieten TensorFlow's start-up chatter, and return the ``megnet`` module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    patch_pymatgen()
    import megnet
    import megnet.models

    return megnet
