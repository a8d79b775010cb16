"""Model files: a fitted pipeline with a card saying what it is and what made it.

The file is a pickle stream holding the card first (plain Python types) and the estimator
second, so the card can be checked — format, feature set, library versions — before any
object of a possibly incompatible library version is unpickled. Loading a model made with
other versions or features fails with one clear error instead of predicting garbage.
"""

from __future__ import annotations

import pickle
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bandgaps.errors import InputError
from bandgaps.files import atomic_path

FORMAT = "bandgaps-model/2"  # 2: the estimator is a CalibratedCompositionModel

#: Libraries whose version must match for a pickled model to be trusted.
PINNED_LIBRARIES = ("bandgaps", "scikit-learn", "lightgbm", "numpy", "matminer", "mapie")


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in PINNED_LIBRARIES}


@dataclass
class ModelCard:
    """What a model file holds: the model, its features, target and training data."""

    kind: str
    target: str
    feature_set: dict
    training_data: dict
    n_train: int
    params: dict
    versions: dict = field(default_factory=library_versions)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    conformal: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    format: str = FORMAT


def save_model(path: str | Path, estimator: Any, card: ModelCard, extras: dict | None = None):
    """Write card, estimator and optional extras (e.g. a conformal calibrator) atomically."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix or ".model") as tmp, tmp.open("wb") as fh:
        pickle.dump(asdict(card), fh, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump({"estimator": estimator, **(extras or {})}, fh, protocol=5)
    return path


def read_card(path: str | Path) -> ModelCard:
    """The card of a model file, without unpickling the estimator."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Model file {path} does not exist; make one with `bandgaps train`")
    if path.stat().st_size == 0:
        raise InputError(f"Model file {path} is empty")
    try:
        with path.open("rb") as fh:
            raw = pickle.load(fh)
    except Exception:
        raise InputError(f"{path} is not a bandgaps model file (unreadable header)") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError(f"{path} is not a bandgaps model file (expected format {FORMAT})")
    return ModelCard(**raw)


def load_model(path: str | Path, check_versions: bool = True) -> tuple[Any, ModelCard, dict]:
    """Return ``(estimator, card, extras)``; refuse files made with other versions or features."""
    from bandgaps.features.composition import get_feature_set

    path = Path(path)
    card = read_card(path)
    if check_versions:
        now = library_versions()
        diff = {k: (v, now.get(k)) for k, v in card.versions.items() if now.get(k) != v}
        if diff:
            what = ", ".join(f"{k} {a} (now {b})" for k, (a, b) in sorted(diff.items()))
            raise InputError(
                f"Model file {path} was made with {what}; retrain it with `bandgaps train`"
            )
        name = card.feature_set.get("name")
        try:
            current = get_feature_set(name).config()
        except InputError:
            current = None
        if current != card.feature_set:
            raise InputError(
                f"Model file {path} uses feature set {name!r} in a definition this version "
                "does not have; retrain it with `bandgaps train`"
            )
    with path.open("rb") as fh:
        pickle.load(fh)
        payload = pickle.load(fh)
    return payload.pop("estimator"), card, payload
