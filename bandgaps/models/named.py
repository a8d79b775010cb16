"""The study's named models: files the CLI finds without a training command.

``bandgaps predict measured-gap Si Ge`` reads ``measured-gap.bgm`` from the models folder
(``$BANDGAPS_MODELS``, default ``models/`` inside the cache folder). The site build leaves the
files there; when one is missing, or was made by other code, the first call trains it from the
catalogued data (a few minutes, with a progress bar) and writes it in the safe model-file
format (``bandgaps.models.persist``). ``bandgaps models`` lists them with their cards.

Each named model is handed its recipe by name (``module`` and ``builder``, imported only when
the model is trained), as ``bandgaps.models.composition.MODELS`` names its regressors: the
recipes run the study's analyses, which this layer does not import.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bandgaps.errors import InputError

MODELS_ENV = "BANDGAPS_MODELS"


@dataclass(frozen=True)
class NamedModel:
    """A model the study trains and the CLI can name.

    Attributes:
        name: what the CLI calls it.
        quantity: what it predicts: ``measured gap`` or ``PBE gap``.
        description: one line for ``bandgaps models``.
        module: where its recipe lives (imported only to train it).
        builder: the recipe: a function of no arguments returning ``(model, card)``.
        training_sets: the catalog entries it learns from.
    """

    name: str
    quantity: str  # what the model predicts: "measured gap" or "PBE gap"
    description: str
    module: str  # where its recipe lives
    builder: str  # the recipe: a function of no arguments returning (model, card)
    training_sets: tuple[str, ...]  # catalog entries it learns from

    def build(self) -> tuple[object, object]:
        """Train the model with its recipe: ``(model, card)``."""
        return getattr(importlib.import_module(self.module), self.builder)()


def models_dir() -> Path:
    """Where named model files live (``$BANDGAPS_MODELS`` or ``<cache>/models``)."""
    from bandgaps.config import cache_dir, writable_folder

    configured = os.environ.get(MODELS_ENV)
    if not configured:
        return writable_folder(cache_dir() / "models", "the named models' folder")
    return writable_folder(Path(configured).expanduser(), MODELS_ENV)


def code_id(name: str) -> str:
    """What named model ``name``'s file must have been made by: the code its recipe runs (the
    recipe module's closure, as a cached stage's key reads it: docstrings and comments do not
    count) and the checksums of its training data.

    Args:
        name: the named model.

    Returns:
        A 24-character digest, kept in the file's card.
    """
    import hashlib

    from bandgaps.cache import code_digest
    from bandgaps.data import catalog

    spec = get_named(name)
    sums = ",".join(catalog.get(entry).sha256 for entry in spec.training_sets)
    return hashlib.sha256(f"{code_digest((spec.module,))}|{sums}".encode()).hexdigest()[:24]


def card(name: str, n_train: int, data: dict, params: dict):
    """The card a recipe writes into named model ``name``'s file.

    Args:
        name: the named model.
        n_train: its training rows.
        data: where they came from (names, checksums, counts).
        params: the model's parameters.

    Returns:
        The ``ModelCard``, with the code digest that ``is_current`` checks.
    """
    from bandgaps.features.composition import get_feature_set
    from bandgaps.models.persist import ModelCard

    spec = get_named(name)
    return ModelCard(
        kind=spec.name,
        target=f"{spec.quantity} (eV)",
        feature_set=get_feature_set("magpie+fractions").config(),
        training_data={**data, "code": code_id(name)},
        n_train=n_train,
        params=params,
    )


_RECIPES = "bandgaps.analyses.named_recipes"

NAMED: dict[str, NamedModel] = {
    "measured-gap": NamedModel(
        "measured-gap",
        "measured gap",
        "measured band gap from composition, learned from every report of Zhuo et al. 2018 "
        "(median per composition): LightGBM with a metal gate, helped by predicted PBE gap "
        "and metallicity, with the cleaning rule of the registered expt-gap-cleaned entry",
        _RECIPES,
        "build_measured_gap",
        (
            "matbench-mp-gap",
            "matbench-expt-gap",
            "matbench-expt-is-metal",
            "zhuo2018-expt-gap-all-reports",
        ),
    ),
    "pbe-gap": NamedModel(
        "pbe-gap",
        "PBE gap",
        "PBE band gap of the Materials Project (matbench mp_gap, 106,113 rows) from "
        "composition: a LightGBM metal gate before a Huber LightGBM regressor on Magpie + "
        "element fractions (the registered mp-gap-gated entry, trained on every row)",
        _RECIPES,
        "build_pbe_gap",
        ("matbench-mp-gap",),
    ),
}


def get_named(name: str) -> NamedModel:
    """The named model called ``name``.

    Args:
        name: ``measured-gap`` or ``pbe-gap``.

    Returns:
        Its ``NamedModel``.

    Raises:
        InputError: an unknown name, with the known ones.
    """
    try:
        return NAMED[name]
    except KeyError:
        raise InputError(
            f"Unknown model {name!r}; the named models are {', '.join(NAMED)}"
        ) from None


def model_path(name: str) -> Path:
    """Where named model ``name``'s file lives (it may not exist yet).

    Args:
        name: the named model.

    Returns:
        ``<models folder>/<name>.bgm``.
    """
    return models_dir() / f"{get_named(name).name}.bgm"


def is_current(path: Path) -> bool:
    """Whether a named model file exists and was made by this code and these libraries.

    Args:
        path: the file.

    Returns:
        ``True`` when it can be used as it is.

    Raises:
        InputError: a file of this format that is damaged (delete it to retrain).
    """
    from bandgaps.models.persist import FORMAT, library_versions, read_card

    if not path.is_file() or path.stem not in NAMED:
        return False
    try:
        card = read_card(path)
    except InputError as exc:
        with path.open("rb") as f:
            this_format = f.read(len(FORMAT) + 1) == FORMAT.encode() + b"\n"
        if this_format:  # written by this version, then damaged: say so, retrain nothing
            raise InputError(
                f"{exc}. It is the named model {path.stem!r}: delete it and it is trained "
                "again on first use"
            ) from None
        return False  # an earlier format: retrained
    return card.training_data.get("code") == code_id(path.stem) and (
        card.versions == library_versions()
    )


def ensure(name: str) -> Path:
    """The path of named model ``name``, training and writing it first when needed.

    Args:
        name: the named model.

    Returns:
        Its file.
    """
    from bandgaps.cache import note
    from bandgaps.models.persist import save_model

    spec = get_named(name)
    path = model_path(name)
    if not is_current(path):
        model, model_card = spec.build()
        save_model(path, model, model_card)
    note("output", path)
    return path


def load_named(name: str):
    """A named model, trained on first use.

    Args:
        name: the named model.

    Returns:
        ``(model, card)``.
    """
    from bandgaps.models.persist import load_model

    model, card, _ = load_model(ensure(name))
    return model, card


def predict_named(name: str, compositions, level=None, risk: float | None = None) -> pd.DataFrame:
    """The prediction table of named model ``name`` (``bandgaps.models.predictor``) with a
    ``formula`` column first.

    Args:
        name: ``measured-gap`` or ``pbe-gap``.
        compositions: formulas or compositions.
        level: one coverage or several (measured-gap; default 0.9).
        risk: adds a one-sided safe bound (measured-gap).

    Returns:
        The quantity it predicts and the metal probability; for the calibrated measured-gap
        model also σ, the conformal set at each level, the bound at ``risk`` and the domain.
    """
    from bandgaps.features.composition import _as_compositions
    from bandgaps.models.predictor import check_options, resolve

    get_named(name)
    check_options(name, level, risk)
    comps = _as_compositions(list(compositions), index=range(1, len(compositions) + 1))
    frame = resolve(name).predict_table(comps, level=level, risk=risk)
    frame.insert(0, "formula", [str(c) for c in compositions])
    return frame


def list_models() -> pd.DataFrame:
    """Every named model: what it predicts, whether its file is built, and its card."""
    from bandgaps.models.persist import read_card

    rows = []
    for spec in NAMED.values():
        path = model_path(spec.name)
        row = {"name": spec.name, "predicts": spec.quantity, "description": spec.description}
        row.update(trained_on="", n_train=None, created="", path=str(path))
        try:
            current = is_current(path)
        except InputError:
            current = None  # this format, damaged
        if current:
            card = read_card(path)
            row.update(
                trained_on=card.training_data.get("source", ""),
                n_train=card.n_train,
                created=card.created,
            )
        row["status"] = {True: "built", False: "trained on first use"}.get(
            current, "damaged: delete it to retrain"
        )
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = [
    "NAMED",
    "NamedModel",
    "card",
    "code_id",
    "ensure",
    "get_named",
    "list_models",
    "load_named",
    "model_path",
    "models_dir",
    "predict_named",
]
