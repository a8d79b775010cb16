"""Model files that can be shared: reading one never runs code, and any corruption is caught.

A model file is three parts, read in this order:

1. a first line naming the format (``bandgaps-model/4``);
2. a second line with the sha256 of everything after it — one flipped bit anywhere in the file
   makes it fail this check (or the first), before anything else is parsed;
3. a ZIP archive of plain data: ``card.json`` (what the model is, what made it, the library
   versions), ``model.json`` (the estimator's parameters and the classes it is made of),
   ``forest.npz`` (the trees of a random forest as numeric arrays, read with
   ``allow_pickle=False``) or ``booster-*.txt`` (LightGBM's own text models), and for a
   calibrated model ``intervals.npz`` and ``domain.npz`` (its calibration rows and the
   domain-of-applicability reference, plain numbers).

Each estimator writes its own plain data (``state()``) and rebuilds itself from it
(``from_state(fields, archive)``); this module holds the format and the checks they read
through (``Archive``). Only the classes in ``TRUSTED`` are rebuilt; any other name is refused,
and the trees' arrays are checked (shapes, child indices, feature numbers) before scikit-learn
sees them, LightGBM's text before LightGBM parses it. Nothing is unpickled: the pickle-based
files of earlier versions are refused with the way to retrain.

What is and is not trusted: a model file from anyone can be *read* safely; its predictions are
only as good as whoever trained it. The result cache (``BANDGAPS_CACHE``) is pickled and is the
user's own folder: never fill it with files from elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bandgaps.errors import InputError
from bandgaps.files import atomic_path
from bandgaps.models.lgbm_text import MAX_FEATURES, checked_model_text

FORMAT = "bandgaps-model/4"
_MAGIC = FORMAT.encode() + b"\n"

#: Libraries whose version must match for a model file to be read.
PINNED_LIBRARIES = ("bandgaps", "scikit-learn", "lightgbm", "numpy", "matminer")

#: The estimator classes a model file may name (its ``model.json``), nothing else, and the
#: module of each: the class's own ``from_state`` rebuilds it.
TRUSTED = {
    "CalibratedCompositionModel": "bandgaps.models.calibrated",
    "UncertainForestRegressor": "bandgaps.models.forest",
    "BoostedRegressor": "bandgaps.models.boosting",
    "MeasuredGapModel": "bandgaps.models.transfer",
    "PBEReference": "bandgaps.models.transfer",
    "PBEGapModel": "bandgaps.models.pbe_gap",
}
#: The classes a whole model file may hold (the others are their parts).
MODEL_CLASSES = ("CalibratedCompositionModel", "MeasuredGapModel", "PBEReference", "PBEGapModel")

_MiB = 2**20
#: Ceilings on what each member of a model file may unpack to, and on the whole, checked from the
#: ZIP directory before anything is inflated. The largest file the study writes (the named
#: measured-gap model) unpacks to about 80 MB: 28 MB of lookup, boosters of up to 21 MB each.
MEMBER_CAPS = (
    (re.compile(r"card\.json"), _MiB // 16),
    (re.compile(r"model\.json"), _MiB),
    (re.compile(r"(?:[a-z0-9]+-){0,3}booster-(?:point|quantile)-\d{1,2}\.txt"), 128 * _MiB),
    (re.compile(r"forest\.npz"), 768 * _MiB),
    (re.compile(r"lookup\.npz"), 128 * _MiB),
    (re.compile(r"(?:intervals|domain)\.npz"), 64 * _MiB),
)
MAX_UNPACKED = 1024 * _MiB
MAX_MEMBERS = 100
#: The most boosters of one kind (point or quantile) a regressor may hold.
MAX_BOOSTERS = 16

_TREE_FIELDS = (
    "left_child",
    "right_child",
    "feature",
    "threshold",
    "impurity",
    "n_node_samples",
    "weighted_n_node_samples",
    "missing_go_to_left",
)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a model file records (a fresh dict each call)."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    # read once per process: the package metadata scan took 20 ms of every model load
    from importlib.metadata import version

    return tuple((name, version(name)) for name in PINNED_LIBRARIES)


@dataclass
class ModelCard:
    """What a model file holds: the model, its features, target and training data.

    Attributes:
        kind: the model (``rf``, ``lgbm``, ``measured-gap``, …).
        target: what it predicts (a column name, or a quantity with its unit).
        feature_set: the feature set's name, version and recipe.
        training_data: where the rows came from (name, checksum, counts).
        n_train: training rows.
        params: the estimator's parameters.
        versions: the library versions that made it (a file is refused under others).
        created: when (UTC, ISO 8601).
        conformal: the interval method and levels.
        metrics: scores on the calibration rows.
        format: the file format's name and version.
    """

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


# ----------------------------------------------------------------------------------------------
# What estimators write and read: plain data in, checked data out


def jsonable(value):
    """``value`` with NumPy scalars made Python numbers and tuples made lists (for JSON).

    Args:
        value: a dict, list, tuple or scalar.

    Returns:
        The same structure in JSON's types.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Plain arrays as the bytes of an ``.npz`` member (read back with ``allow_pickle=False``).

    Args:
        arrays: name → array of numbers or text.

    Returns:
        The member's bytes.
    """
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def calibration_state(model) -> tuple[dict, dict[str, bytes]]:
    """The JSON fields and ``.npz`` members of a model's ``intervals_`` (an
    ``IntervalCalibrator``) and ``domain_`` (an ``ApplicabilityDomain``), each ``None`` in the
    fields when the model has none.

    Args:
        model: a fitted model.

    Returns:
        ``({"intervals": …, "domain": …}, files)``.
    """
    fields, files = {}, {}
    for name in ("intervals", "domain"):
        part = getattr(model, f"{name}_", None)
        fields[name] = None
        if part is not None:
            part_fields, arrays = part.state()
            fields[name] = jsonable(part_fields)
            files[f"{name}.npz"] = npz_bytes(arrays)
    return fields, files


def forest_bytes(trees: int, rows: int) -> int:
    """The most bytes ``forest.npz`` can need for ``trees`` trees grown on ``rows`` rows: a
    tree has at most 2·rows − 1 nodes (one sample per leaf), each a 64-byte node record and an
    8-byte value, plus each tree's three array headers and archive entries.

    Args:
        trees: the forest's trees.
        rows: the rows they were grown on.

    Returns:
        A ceiling in bytes.
    """
    return trees * ((2 * rows - 1) * 72 + 1536) + 65536


class Archive:
    """The verified archive of one model file, as each estimator's ``from_state`` reads it.

    Every read goes through the checks here: members capped from the ZIP directory, arrays
    read without pickle, trees' indices and LightGBM's text checked before scikit-learn or
    LightGBM parse them. An estimator rebuilds itself only from what these methods return.

    Args:
        zf: the archive (its members already checked by name and size).
        path: the model file, named in every error.
    """

    def __init__(self, zf: zipfile.ZipFile, path):
        self.zf = zf
        self.path = path

    def refuse(self, what: str) -> InputError:
        """The one error for a file whose ``what`` is wrong.

        Args:
            what: what is wrong, e.g. ``its tree count is malformed``.

        Returns:
            The ``InputError`` to raise.
        """
        return InputError(f"Model file {self.path}: {what}; it is refused")

    def unreadable(self, what: str, exc: Exception) -> InputError:
        """The error for a part that failed to rebuild (an ``InputError`` is passed on).

        Args:
            what: the part (``forest``, ``model description``).
            exc: what went wrong.

        Returns:
            The ``InputError`` to raise.
        """
        if isinstance(exc, InputError):
            return exc
        return self.refuse(f"unreadable {what} ({type(exc).__name__})")

    def names(self) -> list[str]:
        """The members' names."""
        return self.zf.namelist()

    def declared_size(self, name: str) -> int:
        """What member ``name`` says it unpacks to (0 if absent); nothing is inflated.

        Args:
            name: the member.

        Returns:
            Its size in bytes.
        """
        return self.zf.getinfo(name).file_size if name in self.zf.namelist() else 0

    def read(self, name: str) -> bytes:
        """The bytes of one member (its size was capped when the file was opened).

        Args:
            name: the member.

        Returns:
            Its bytes.
        """
        try:
            return self.zf.read(name)
        except KeyError:
            raise InputError(f"Model file {self.path} lacks {name}") from None
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, ValueError):
            raise self.refuse(f"{name} cannot be unpacked") from None

    def json(self, name: str) -> dict:
        """A member holding one JSON object.

        Args:
            name: the member.

        Returns:
            The object.
        """
        try:
            value = json.loads(self.read(name))
        except (ValueError, RecursionError):
            raise InputError(f"Model file {self.path}: {name} is not valid JSON") from None
        if not isinstance(value, dict):
            raise InputError(f"Model file {self.path}: {name} is not a JSON object")
        return value

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """The arrays of an ``.npz`` member, read without pickle; one whose arrays would
        inflate past the member's own ceiling is refused before they are read.

        Args:
            name: the member.

        Returns:
            Name → array.
        """
        data = self.read(name)
        cap = _member_cap(name)
        try:
            inner = zipfile.ZipFile(io.BytesIO(data))
            if sum(info.file_size for info in inner.infolist()) > cap:
                raise self.refuse(f"{name} would unpack past {cap:,} bytes")
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except InputError:
            raise
        except Exception as exc:
            raise self.refuse(
                f"unreadable {name.removesuffix('.npz')} ({type(exc).__name__})"
            ) from None

    def feature_count(self, fields: dict) -> int:
        """An estimator's ``n_features_in``, checked.

        Args:
            fields: the estimator's description.

        Returns:
            The count (1 … ``MAX_FEATURES``).
        """
        n = fields.get("n_features_in") if isinstance(fields, dict) else None
        if not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= MAX_FEATURES:
            raise InputError(
                f"Model file {self.path}: the regressor's feature count is missing or absurd"
            )
        return n

    def tree(self, nodes, values, max_depth, n_features: int):
        """A scikit-learn tree from checked arrays (a crafted index must not reach Cython).

        Args:
            nodes: the tree's node records.
            values: its leaf values ``(nodes, 1, 1)``.
            max_depth: its depth.
            n_features: the features its splits may read.

        Returns:
            A ``sklearn.tree._tree.Tree``.
        """
        from sklearn.tree._tree import Tree

        bad = self.refuse("a tree's arrays are inconsistent")
        if not isinstance(nodes, np.ndarray) or not isinstance(values, np.ndarray):
            raise bad
        if nodes.dtype.names != _TREE_FIELDS or nodes.ndim != 1 or not len(nodes):
            raise bad
        n = len(nodes)
        if values.shape != (n, 1, 1) or values.dtype != np.float64:
            raise bad
        left, right, feature = (nodes[f].astype(np.int64) for f in _TREE_FIELDS[:3])
        leaf = left == -1
        index = np.arange(n)
        inner = ~leaf
        ok = (left[inner] > index[inner]) & (left[inner] < n) & (right[inner] > index[inner])
        ok &= (right[inner] < n) & (feature[inner] >= 0) & (feature[inner] < n_features)
        if not ok.all() or not (right[leaf] == -1).all():
            raise bad
        if not (np.isfinite(nodes["threshold"][inner]).all() and np.isfinite(values).all()):
            raise bad
        tree = Tree(n_features, np.array([1], dtype=np.intp), 1)
        tree.__setstate__(
            {"max_depth": int(max_depth), "node_count": n, "nodes": nodes, "values": values}
        )
        return tree

    def booster(self, name: str, n_features: int):
        """A LightGBM booster from member ``name``: LightGBM parses only a text rebuilt from
        checked fields (``lgbm_text``), never the file's own.

        Args:
            name: the member (``…booster-point-0.txt``).
            n_features: the features the booster must read.

        Returns:
            A ``lightgbm.Booster``.
        """
        import lightgbm as lgb

        try:
            text = self.read(name).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"Model file {self.path}: {name} is not text") from None
        checked = checked_model_text(text, n_features, f"Model file {self.path}, {name}")
        try:
            return lgb.Booster(model_str=checked)
        except Exception as exc:
            raise self.refuse(f"unreadable booster {name} ({type(exc).__name__})") from None

    def estimator(self, fields, *kinds: str, **context):
        """Rebuild the estimator ``fields`` describes, with its own ``from_state``; only the
        classes of ``TRUSTED`` (and of ``kinds``, when given) are rebuilt.

        Args:
            fields: its description (``class`` names it).
            *kinds: the classes allowed here (default any trusted one).
            **context: passed on to ``from_state`` (e.g. ``rows``).

        Returns:
            The fitted estimator.
        """
        name = fields.get("class") if isinstance(fields, dict) else None
        trusted(name, self.path)
        if kinds and name not in kinds:
            raise self.refuse(f"it holds a {name} where a {' or '.join(kinds)} belongs")
        cls = getattr(importlib.import_module(TRUSTED[name]), name)
        return cls.from_state(fields, self, **context)

    def part(self, cls, fields, name: str):
        """An ``IntervalCalibrator`` or ``ApplicabilityDomain`` from its fields and the plain
        arrays of ``<name>.npz`` (``None`` when ``fields`` is).

        Args:
            cls: the part's class.
            fields: its JSON fields, or ``None``.
            name: ``intervals`` or ``domain``.

        Returns:
            The part, or ``None``.
        """
        if fields is None:
            return None
        arrays = self.arrays(f"{name}.npz")
        try:
            return cls.from_state(fields, arrays)
        except Exception as exc:
            detail = str(exc) if isinstance(exc, InputError) else type(exc).__name__
            raise InputError(
                f"Model file {self.path}: unreadable {name} ({detail}); it is refused"
            ) from None


def _member_cap(name: str) -> int:
    return next((c for pattern, c in MEMBER_CAPS if pattern.fullmatch(name)), 0)


def trusted(name, path) -> str:
    """``name`` if it is a class a model file may name (``TRUSTED``); else one clear error.

    Args:
        name: the class named in the file.
        path: the model file.

    Returns:
        ``name``.
    """
    if not isinstance(name, str) or name not in TRUSTED:
        raise InputError(
            f"Model file {path} names the type {str(name)[:60]!r}, which is not one this "
            f"version reads ({', '.join(TRUSTED)}); it is refused"
        )
    return name


# ----------------------------------------------------------------------------------------------
# Writing


def save_model(path: str | Path, model, card: ModelCard) -> Path:
    """Write a fitted model and its card as a model file, atomically.

    Args:
        path: the file to write.
        model: a fitted ``CalibratedCompositionModel``, ``MeasuredGapModel``,
            ``PBEReference`` or ``PBEGapModel`` (its own ``state()`` gives the plain data
            written).
        card: what the model is and what made it.

    Returns:
        ``path``.
    """
    if type(model).__name__ not in MODEL_CLASSES:
        raise InputError(f"Cannot write a model file for a {type(model).__name__}")
    model_desc, files = model.state()
    return _write(Path(path), card, model_desc, files)


def _write(path: Path, card: ModelCard, model_desc: dict, files: dict[str, bytes]) -> Path:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("card.json", json.dumps(jsonable(asdict(card)), indent=1, default=str))
        zf.writestr("model.json", json.dumps(model_desc, indent=1))
        for name, data in files.items():
            zf.writestr(name, data)
    body = archive.getvalue()
    with atomic_path(path, suffix=path.suffix or ".model") as tmp:
        tmp.write_bytes(_MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    return path


# ----------------------------------------------------------------------------------------------
# Reading


def _open(path: str | Path) -> zipfile.ZipFile:
    """The verified archive of a model file, or one clear error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Model file {path} does not exist; make one with `bandgaps train`")
    data = path.read_bytes()
    if not data:
        raise InputError(f"Model file {path} is empty")
    if not data.startswith(_MAGIC):
        if data[:1] == b"\x80":
            raise InputError(
                f"{path} is a model file of an earlier bandgaps version, stored with pickle, "
                "which can run code when read; it is refused. Retrain it with `bandgaps train`"
            )
        raise InputError(f"{path} is not a {FORMAT} model file (corrupt or another kind of file)")
    head, sep, body = data[len(_MAGIC) :].partition(b"\n")
    if not sep or hashlib.sha256(body).hexdigest().encode() != head:
        raise InputError(f"Model file {path} is corrupt: its checksum does not match its contents")
    try:
        zf = zipfile.ZipFile(io.BytesIO(body))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise InputError(f"Model file {path} is corrupt: unreadable archive") from None
    _check_members(zf, path)
    return zf


def _check_members(zf: zipfile.ZipFile, path) -> None:
    """Refuse, from the archive's directory alone, a member with an unknown name or one that
    would unpack past its ceiling (``MEMBER_CAPS``, ``MAX_UNPACKED``): nothing is inflated yet,
    and reading stops at the declared size."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise InputError(f"Model file {path} holds {len(infos)} parts (at most {MAX_MEMBERS})")
    names, total = set(), 0
    for info in infos:
        cap = next((c for pattern, c in MEMBER_CAPS if pattern.fullmatch(info.filename)), None)
        if cap is None or info.filename in names:
            raise InputError(
                f"Model file {path} holds an unexpected part {info.filename[:60]!r}; it is refused"
            )
        names.add(info.filename)
        if info.file_size > cap:
            raise InputError(
                f"Model file {path}: {info.filename} would unpack to {info.file_size:,} bytes, "
                f"more than the {cap:,} such a part can need; it is refused"
            )
        total += info.file_size
    if total > MAX_UNPACKED:
        raise InputError(
            f"Model file {path} would unpack to {total:,} bytes (at most {MAX_UNPACKED:,}); "
            "it is refused"
        )


def read_card(path: str | Path) -> ModelCard:
    """The card of a model file (checksum verified; nothing else is read).

    Args:
        path: the model file.

    Returns:
        Its ``ModelCard``.
    """
    return _card(_open(path), path)


def _card(zf: zipfile.ZipFile, path) -> ModelCard:
    raw = Archive(zf, path).json("card.json")
    if raw.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} model file")
    try:
        card = ModelCard(**raw)
    except TypeError:
        raise InputError(f"Model file {path}: the card has unexpected fields") from None
    for name, kind in _card_types().items():
        value = getattr(card, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(f"Model file {path}: the card's {name} is malformed; it is refused")
    if card.n_train < 0 or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in card.versions.items()
    ):
        raise InputError(f"Model file {path}: the card is malformed; it is refused")
    return card


@functools.cache
def _card_types() -> dict[str, type]:
    """The type of every card field, from ``ModelCard``'s own annotations."""
    import typing

    return typing.get_type_hints(ModelCard)


def _check_versions(path, card: ModelCard) -> None:
    from bandgaps.features.composition import get_feature_set

    now = library_versions()
    diff = {k: (v, now.get(k)) for k, v in card.versions.items() if now.get(k) != v}
    if diff:
        what = ", ".join(f"{k} {a} (now {b})" for k, (a, b) in sorted(diff.items()))
        raise InputError(
            f"Model file {path} was made with {what}; retrain it with `bandgaps train`"
        )
    name = card.feature_set.get("name") if isinstance(card.feature_set, dict) else None
    try:
        current = get_feature_set(name).config()
    except (InputError, TypeError):
        current = None
    if current != card.feature_set:
        raise InputError(
            f"Model file {path} uses feature set {name!r} in a definition this version "
            "does not have; retrain it with `bandgaps train`"
        )


def load_model(path: str | Path, check_versions: bool = True) -> tuple[Any, ModelCard, dict]:
    """Read a model file: checksum, then card, then the payload, every field checked before a
    library parses it; files made with other versions or features, and any type outside
    ``TRUSTED``, are refused. Each estimator rebuilds itself (``from_state``) from what an
    ``Archive`` hands it, then the model predicts once (``_self_test``).

    Args:
        path: the model file.
        check_versions: refuse a file made with other library versions.

    Returns:
        ``(model, card, {})``.

    Raises:
        InputError: one line naming what is wrong with the file.
    """
    zf = _open(path)  # read and checksummed once
    card = _card(zf, path)
    if check_versions:
        _check_versions(path, card)
    archive = Archive(zf, path)
    desc = archive.json("model.json")
    if trusted(desc.get("class"), path) not in MODEL_CLASSES:
        raise InputError(f"Model file {path} does not hold a composition model")
    try:
        model = archive.estimator(desc)
    except Exception as exc:
        raise archive.unreadable("model description", exc) from None
    _self_test(model, path)
    return model, card, {}


#: Compositions every model file predicts once as it is read (a metal-free pair).
_SELF_TEST = ("Si", "NaCl")


def _self_test(model, path) -> None:
    """Predict ``_SELF_TEST`` once, through every part a user's prediction uses (σ band,
    intervals, domain, metal probability): a description that rebuilds but cannot predict (a
    parameter of the wrong kind, parts that do not fit) is refused here with one line, not at
    the first prediction; so is one whose prediction is not a finite number."""
    from pymatgen.core import Composition

    comps = [Composition(f) for f in _SELF_TEST]
    kind = type(model).__name__
    try:
        if kind in ("PBEReference", "PBEGapModel"):
            values = [model.featurize_many(comps)]
        else:
            X = model.transform(comps)
            band = model.predict_band_features(X)
            values = [band[0]]
            if kind == "MeasuredGapModel":
                values.append(model.predict_metal_proba_features(X))
            if getattr(model, "intervals_", None) is not None:
                if kind == "MeasuredGapModel":
                    sets = model.intervals_features(X, 0.9, band)
                    values += [sets["lower"], sets["upper"]]
                else:
                    values += next(iter(model.predict_intervals_features(X, band=band).values()))
            if getattr(model, "domain_", None) is not None:
                model.domain_.assess(X, comps, (band[2] - band[1]) / 2)
    except (InputError, OSError):  # the user's input or folders (the cache), not the file
        raise
    except Exception as exc:
        raise InputError(
            f"Model file {path}: it cannot predict ({type(exc).__name__}); it is refused"
        ) from None
    if not all(np.isfinite(np.asarray(v, dtype=float)).all() for v in values):
        raise InputError(f"Model file {path}: its predictions are not finite; it is refused")
