"""Models of a screen: names resolved once by the driver, loaded once per worker process.

A model is named as the CLI names it: a named composition model (``measured-gap``,
``pbe-gap``), a model file from ``bandgaps train``, or a pretrained MEGNet family with its
fidelity after a colon (``megnet-2018``, ``megnet-mf:exp``, ``megnet-mf-disorder:pbe``; structure
inputs only). ``predict_partition`` turns one partition into a prediction table and an error
table: a row that cannot be read or predicted goes to the errors with its reason and never
stops the run.

Workers read model files (and the MEGNet weights under ``BANDGAPS_SHARED``) by path: on a
cluster of several machines those paths must be on a shared file system.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bandgaps.errors import InputError

#: Model objects already loaded in this process, keyed by ``ModelSpec.key`` (a Dask worker
#: process keeps them between partitions).
_LOADED: dict[str, object] = {}


@dataclass(frozen=True)
class ModelSpec:
    """One model of a screen, as the driver resolved it (plain data, sent to the workers)."""

    label: str  # the column name in the output
    kind: str  # "named", "file" or "megnet"
    quantity: str  # what it predicts, e.g. "measured gap"
    path: str | None = None  # the model file (named and file models)
    family: str | None = None  # MEGNet family
    fidelity: str | None = None  # MEGNet multi-fidelity state
    sha256: str = ""  # of the model file, or of the family's weight checksums

    @property
    def needs_structures(self) -> bool:
        return self.kind == "megnet"

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.path or self.family}:{self.sha256}"

    def identity(self) -> dict:
        """What must match for a run to be continued: no paths of this machine's cache."""
        return {k: v for k, v in asdict(self).items() if k != "path"}


def resolve_models(names: Sequence[str], source_kind: str, on_training=None) -> list[ModelSpec]:
    """Check every model name against the input before work starts; named models are trained
    here when their file is missing (``on_training(name)`` is called first)."""
    from bandgaps.files import sha256_file
    from bandgaps.models import megnet, named
    from bandgaps.models.persist import read_card

    if not names:
        raise InputError("Name at least one model (--model), e.g. measured-gap")
    specs = []
    for name in names:
        family_name, _, fidelity = name.partition(":")
        if name in named.NAMED and not Path(name).is_file():
            path = named.model_path(name)
            if not named.is_current(path) and on_training is not None:
                on_training(name)
            path = named.ensure(name)
            spec = ModelSpec(
                name,
                "named",
                named.NAMED[name].quantity,
                str(path.resolve()),
                sha256=sha256_file(path),
            )
        elif Path(name).is_file():
            card = read_card(name)
            path = str(Path(name).resolve())  # workers may run in another folder
            spec = ModelSpec(Path(name).stem, "file", card.target, path, sha256=sha256_file(path))
        elif family_name in megnet.FAMILIES:
            family = megnet.get_family(family_name)
            megnet.fidelity_state(fidelity or None, family)
            checksums = json.dumps(family.checksums(), sort_keys=True).encode()
            spec = ModelSpec(
                name,
                "megnet",
                f"{megnet.TRAINED_ON[fidelity or None]} gap",
                family=family_name,
                fidelity=fidelity or None,
                sha256=hashlib.sha256(checksums).hexdigest(),
            )
        else:
            raise InputError(
                f"Unknown model {name!r}: give a named model ({', '.join(named.NAMED)}), a model "
                f"file from `bandgaps train`, or a MEGNet family ({', '.join(megnet.FAMILIES)}, "
                "with :FIDELITY for multi-fidelity ones)"
            )
        if spec.needs_structures and source_kind != "structures":
            raise InputError(
                f"{name} predicts from crystal structures; the input is a formula table "
                "(give an .xyz file, a folder or a zip of CIF/POSCAR files)"
            )
        if spec.label in {s.label for s in specs}:
            raise InputError(f"Model {spec.label!r} is named twice")
        specs.append(spec)
    return specs


def _loaded(spec: ModelSpec):
    if spec.key not in _LOADED:
        if spec.kind == "megnet":
            from bandgaps.models.megnet import PretrainedEnsemble

            _LOADED[spec.key] = PretrainedEnsemble(spec.family)
        else:
            from bandgaps.models.persist import load_model

            _LOADED[spec.key] = load_model(spec.path)[0]
    return _LOADED[spec.key]


def model_columns(spec: ModelSpec, comps, structures) -> dict[str, np.ndarray]:
    """Output columns of one model for rows that parsed: the prediction, then σ, metal
    probability and interval bounds where the model has them."""
    model = _loaded(spec)
    label = spec.label
    if spec.kind == "megnet":
        mean, std = model.predict(structures, spec.fidelity, return_std=True)
        return {label: mean, f"{label}_sigma": std}
    if spec.kind == "named":
        from bandgaps.models.named import predict_loaded

        cols = predict_loaded(model, comps)
        names = {"gap": label, "σ": f"{label}_sigma", "metal probability": f"{label}_metal_prob"}
        return {names[k]: v for k, v in cols.items()}
    F = model.transform(comps)
    mean, std = model.predict_features(F, return_std=True)
    # the σ `bandgaps predict` prints: scaled so that ±σ covered 68 % of the calibration rows
    out = {label: mean, f"{label}_sigma": model.calibrated_std(std)}
    if model.calibrated:
        for level, (lo, hi) in model.predict_intervals_features(F).items():
            out[f"{label}_lower_{level:g}"] = lo
            out[f"{label}_upper_{level:g}"] = hi
    return out


def _parse_rows(part, source_kind: str, specs: Sequence[ModelSpec]):
    """Rows that parse, as ``(positions, compositions, structures)``, and the error rows."""
    from bandgaps.data.formulas import parse_formula
    from bandgaps.data.structures import parse_structure
    from bandgaps.features.composition import check_element_data

    megnets = [_loaded(s) for s in specs if s.needs_structures]
    keep, comps, structures, errors = [], [], [], []
    memo: dict[str, object] = {}
    for k, item in enumerate(part.items):
        row = part.start + k
        try:
            if source_kind == "formulas":
                if item in memo:
                    comp = memo[item]
                else:
                    comp = memo[item] = parse_formula(item, row=row)
                structure = None
                check_element_data(comp, item, row)
            else:
                structure = parse_structure(item, part.names[k])
                comp = structure.composition
                if any(not s.needs_structures for s in specs):
                    check_element_data(comp, comp.reduced_formula, row)
                for ens in megnets:
                    ens._check([structure])
        except InputError as exc:
            errors.append((k, str(exc)))
            continue
        keep.append(k)
        comps.append(comp)
        structures.append(structure)
    return keep, comps, structures, errors


def _predict_all(specs, comps, structures) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for spec in specs:
        cols.update(model_columns(spec, comps, structures))
    return cols


def output_columns(specs: Sequence[ModelSpec], source_kind: str) -> list[str]:
    """The model columns of a screen, from a prediction of one known material (silicon) —
    which also loads every model once before the partitions start."""
    from pymatgen.core import Composition

    from bandgaps.structures.alloys import silicon_cell

    structure = silicon_cell() if source_kind == "structures" else None
    return list(_predict_all(specs, [Composition("Si")], [structure]))


def predict_partition(part, specs: Sequence[ModelSpec], source_kind: str, window=None):
    """``(predictions, errors)`` tables of one partition.

    ``window = (low, high)`` keeps the rows whose first model's prediction lies inside it
    (either end may be ``None``). A batch that a model refuses is predicted row by row, so one
    bad structure costs only its own row.
    """
    keep, comps, structures, errors = _parse_rows(part, source_kind, specs)
    try:
        cols = _predict_all(specs, comps, structures) if keep else {}
    except InputError:
        done = []
        for k, comp, structure in zip(keep, comps, structures, strict=True):
            try:
                done.append((k, comp, _predict_all(specs, [comp], [structure])))
            except InputError as exc:
                errors.append((k, str(exc)))
        keep, comps = [k for k, _, _ in done], [c for _, c, _ in done]
        cols = {c: np.concatenate([r[c] for _, _, r in done]) for c in (done[0][2] if done else {})}
    predictions = _rows(part, keep)
    predictions["formula"] = (
        [part.items[k] for k in keep]
        if source_kind == "formulas"
        else [c.reduced_formula for c in comps]
    )
    for name, values in cols.items():
        predictions[name] = np.asarray(values, float)
    if window is not None and keep:
        low, high = window
        value = predictions[specs[0].label]
        inside = np.ones(len(keep), bool)
        if low is not None:
            inside &= value >= low
        if high is not None:
            inside &= value <= high
        predictions = predictions[inside].reset_index(drop=True)
    errors.sort()
    bad = _rows(part, [k for k, _ in errors])
    bad["input"] = [
        part.items[k] if source_kind == "formulas" else part.names[k] for k, _ in errors
    ]
    bad["reason"] = [reason for _, reason in errors]
    return predictions, bad


def _rows(part, positions: list[int]) -> pd.DataFrame:
    """The row number (and id or name) columns for ``positions`` of a partition."""
    frame = pd.DataFrame({"row": np.asarray([part.start + k for k in positions], np.int64)})
    if part.ids is not None:
        frame["id"] = [part.ids[k] for k in positions]
    if part.names is not None:
        frame["name"] = [part.names[k] for k in positions]
    return frame


__all__ = ["ModelSpec", "model_columns", "output_columns", "predict_partition", "resolve_models"]
