"""Models of a screen: names resolved once by the driver, loaded once per worker process.

A model is named as the CLI names it and resolved by ``bandgaps.models.predictor`` (a named
model, a model file, a MEGNet family with its fidelity; MEGNet for structure inputs only). Each
model's columns are its prediction table, the one ``bandgaps predict`` prints, with the model's
name in front (``measured-gap: σ``). ``predict_partition`` turns one partition into a prediction
table and an error table: a row that cannot be read or predicted goes to the errors with its
reason and never stops the run.

Workers read model files (and the MEGNet weights under ``BANDGAPS_SHARED``) by path: on a
cluster of several machines those paths must be on a shared file system.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bandgaps.errors import InputError
from bandgaps.models.predictor import Predictor, StepClock, resolve_all


def resolve_models(names: Sequence[str], source_kind: str, on_training=None) -> list[Predictor]:
    """Check every model name against the input before work starts; named models are trained
    here when their file is missing.

    Args:
        names: the models, first the one a screen filters and ranks.
        source_kind: ``formulas`` or ``structures``.
        on_training: called with a named model's name before it is trained.

    Returns:
        One ``Predictor`` per name.
    """
    return resolve_all(names, source_kind == "structures", on_training)


def screen_column(predictor: Predictor, column: str) -> str:
    """A prediction table's column as a screen writes it: the model's name in front.

    Args:
        predictor: the model.
        column: a column of its prediction table.

    Returns:
        ``"<name>: <column>"``.
    """
    return f"{predictor.name}: {column}"


def value_column(predictor: Predictor) -> str:
    """The screen column of a model's value (what ``--gap-min``/``--top`` look at).

    Args:
        predictor: the model.

    Returns:
        ``"<name>: <quantity>"``.
    """
    return screen_column(predictor, predictor.quantity)


def model_columns(
    spec: Predictor, comps, structures, steps=None, level=None
) -> dict[str, np.ndarray]:
    """A model's prediction table for rows that parsed, its columns prefixed with its name.

    Args:
        spec: the model.
        comps: the rows' compositions.
        structures: the rows' structures (``None`` for formulas).
        steps: a dict that gains the seconds of each step under ``"<name> <step>"``.
        level: interval levels, used by a model that has intervals.

    Returns:
        ``{column: values}``.
    """
    inputs = structures if spec.needs_structures else comps
    timed = None if steps is None else {}
    # the levels reach the models that have intervals; the others give none
    level = level if getattr(spec.load(), "calibrated", False) else None
    table = spec.predict_table(inputs, level=level, steps=timed)
    for step, seconds in (timed or {}).items():
        key = f"{spec.name} {step}"
        steps[key] = steps.get(key, 0.0) + seconds
    return {screen_column(spec, c): table[c].to_numpy() for c in table.columns}


def _parse_rows(part, source_kind: str, specs: Sequence[Predictor]):
    """Rows that parse, as ``(positions, compositions, structures)``, and the error rows."""
    from bandgaps.data.formulas import parse_formula
    from bandgaps.data.structures import parse_structure
    from bandgaps.features.composition import check_element_data

    megnets = [s.load() for s in specs if s.needs_structures]
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


def _predict_all(specs, comps, structures, steps=None, level=None) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for spec in specs:
        cols.update(model_columns(spec, comps, structures, steps, level))
    return cols


def output_columns(specs: Sequence[Predictor], source_kind: str, level=None) -> list[str]:
    """The model columns of a screen, from a prediction of one known material (silicon) —
    which also loads every model once, and traces MEGNet's networks, before the partitions
    start.

    Args:
        specs: the models.
        source_kind: ``formulas`` or ``structures``.
        level: interval levels, as the partitions will use them.

    Returns:
        The column names, in order.
    """
    from pymatgen.core import Composition

    from bandgaps.structures.alloys import silicon_cell

    structure = silicon_cell() if source_kind == "structures" else None
    for spec in specs:
        if spec.needs_structures:
            spec.load().warm_up(structure, spec.fidelity)
    return list(_predict_all(specs, [Composition("Si")], [structure], level=level))


def predict_partition(
    part,
    specs: Sequence[Predictor],
    source_kind: str,
    window=None,
    steps: dict | None = None,
    level=None,
):
    """The prediction and error tables of one partition (a screen worker's task).

    A batch that a model refuses is predicted row by row, so one bad structure costs only its
    own row.

    Args:
        part: the ``Partition``.
        specs: the models.
        source_kind: ``formulas`` or ``structures``.
        window: ``(low, high)`` keeps the rows whose first model's value lies inside it
            (either end may be ``None``).
        steps: a dict that gains the seconds spent reading the rows (``"read"``) and in each
            model's steps.
        level: one coverage or several (default 0.9) for the models that have intervals.

    Returns:
        ``(predictions, errors)``: rows kept with every model's columns, and rows that could
        not be read or predicted with their reason.
    """
    with StepClock(steps)("read"):
        keep, comps, structures, errors = _parse_rows(part, source_kind, specs)
    try:
        cols = _predict_all(specs, comps, structures, steps, level) if keep else {}
    except InputError:
        done = []
        for k, comp, structure in zip(keep, comps, structures, strict=True):
            try:
                done.append((k, comp, _predict_all(specs, [comp], [structure], level=level)))
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
        values = np.asarray(values)
        predictions[name] = values if values.dtype == bool else values.astype(float)
    if window is not None and keep:
        low, high = window
        value = predictions[value_column(specs[0])]
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


__all__ = [
    "model_columns",
    "output_columns",
    "predict_partition",
    "resolve_models",
    "screen_column",
    "value_column",
]
