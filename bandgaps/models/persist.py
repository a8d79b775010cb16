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

Only the classes in ``TRUSTED`` are rebuilt; any other name is refused, and the trees' arrays
are checked (shapes, child indices, feature numbers) before scikit-learn sees them. Nothing is
unpickled: the pickle-based files of earlier versions are refused with the way to retrain.

What is and is not trusted: a model file from anyone can be *read* safely; its predictions are
only as good as whoever trained it. The result cache (``BANDGAPS_CACHE``) is pickled and is the
user's own folder: never fill it with files from elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
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
from bandgaps.models.lgbm_text import MAX_FEATURES, MAX_TREES, checked_model_text

FORMAT = "bandgaps-model/4"
_MAGIC = FORMAT.encode() + b"\n"

#: Libraries whose version must match for a model file to be read.
PINNED_LIBRARIES = ("bandgaps", "scikit-learn", "lightgbm", "numpy", "matminer")

#: The estimator classes a model file may name (its ``model.json``), nothing else.
TRUSTED = (
    "CalibratedCompositionModel",
    "UncertainForestRegressor",
    "BoostedRegressor",
    "MeasuredGapModel",
    "PBEReference",
)

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
# Writing


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _regressor_state(regressor, prefix: str = "") -> tuple[dict, dict[str, bytes]]:
    """``(description, files)`` of a fitted regressor: plain parameters and data files (named
    with ``prefix`` when one archive holds several)."""
    name = type(regressor).__name__
    desc = {
        "class": name,
        "params": _jsonable(regressor.get_params()),
        "n_features_in": int(regressor.n_features_in_),
    }
    if name == "UncertainForestRegressor":
        arrays = {}
        for i, tree in enumerate(regressor.forest_.estimators_):
            state = tree.tree_.__getstate__()
            arrays[f"nodes_{i}"] = state["nodes"]
            arrays[f"values_{i}"] = state["values"]
            arrays[f"max_depth_{i}"] = np.asarray(state["max_depth"])
            arrays[f"max_features_{i}"] = np.asarray(tree.max_features_)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        desc["trees"] = len(regressor.forest_.estimators_)
        return desc, {"forest.npz": buf.getvalue()}
    if name == "BoostedRegressor":
        files = {}
        for group, boosters in (
            ("point", regressor.boosters_),
            ("quantile", regressor.quantile_boosters_),
        ):
            for k, b in enumerate(boosters):
                booster = getattr(b, "booster_", b)
                files[f"{prefix}booster-{group}-{k}.txt"] = booster.model_to_string().encode()
        desc["prefix"] = prefix
        desc["boosters"] = {
            "point": len(regressor.boosters_),
            "quantile": len(regressor.quantile_boosters_),
        }
        return desc, files
    raise InputError(f"Cannot write a model file for a {name}")


def _reference_state(ref, prefix: str) -> tuple[dict, dict[str, bytes]]:
    gap, f1 = _regressor_state(ref.gap_model_, f"{prefix}gap-")
    metal, f2 = _regressor_state(ref.metal_model_.booster_, f"{prefix}metal-")
    desc = {
        "class": "PBEReference",
        "feature_set": ref.feature_set,
        "n_train": int(ref.n_train_),
        "gap": gap,
        "metal": metal,
    }
    return desc, {**f1, **f2}


def _transfer_state(model) -> tuple[dict, dict[str, bytes]]:
    """Description and files of a ``PBEReference`` or a ``MeasuredGapModel``."""
    if type(model).__name__ == "PBEReference":
        return _reference_state(model, "ref-")
    ref, files = _reference_state(model.reference, "ref-")
    committee = type(model.model).__name__ == "GatedCommittee"
    members = model.model.members_ if committee else [model.model]
    descs = []
    for i, gated in enumerate(members):
        reg, f_reg = _regressor_state(gated.regressor_, f"m{i}-gap-")
        member = {
            "params": _jsonable(gated.get_params()),
            "n_features_in": int(gated.n_features_in_),
            "regressor": reg,
            "gate": None,
        }
        files.update(f_reg)
        if gated.gate_ is not None:
            member["gate"], f_gate = _regressor_state(gated.gate_.booster_, f"m{i}-gate-")
            files.update(f_gate)
        descs.append(member)
    desc = {
        "class": "MeasuredGapModel",
        "feature_set": model.feature_set,
        "reference": ref,
        "committee": committee,
        "members": descs,
        "n_train": int(model.model.n_train_),
        "lookup": None,
    }
    if model.lookup is not None:
        buf = io.BytesIO()
        np.savez(buf, keys=np.asarray(model.lookup.keys_, dtype=str), values=model.lookup.values_)
        files["lookup.npz"] = buf.getvalue()
        desc["lookup"] = len(model.lookup.keys_)
    _calibration_state(model, desc, files)
    return desc, files


def _calibration_state(model, desc: dict, files: dict[str, bytes]) -> None:
    """Add a model's conformal calibration and domain (JSON fields and plain arrays)."""
    for part in ("intervals", "domain"):
        desc[part] = None
        obj = getattr(model, f"{part}_", None)
        if obj is not None:
            fields, arrays = obj.state()
            desc[part] = _jsonable(fields)
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            files[f"{part}.npz"] = buf.getvalue()


def save_model(path: str | Path, model, card: ModelCard) -> Path:
    """Write a fitted model and its card as a model file, atomically.

    Args:
        path: the file to write.
        model: a fitted ``CalibratedCompositionModel``, ``MeasuredGapModel`` or
            ``PBEReference``.
        card: what the model is and what made it.

    Returns:
        ``path``.
    """
    path = Path(path)
    if type(model).__name__ in ("MeasuredGapModel", "PBEReference"):
        model_desc, files = _transfer_state(model)
        return _write(path, card, model_desc, files)
    reg_desc, files = _regressor_state(model.pipeline_[-1])
    model_desc = {
        "class": type(model).__name__,
        "params": _jsonable(model.get_params()),
        "n_train": int(model.n_train_),
        "n_calibration": int(model.n_calibration_),
        "calibration_mae": float(model.calibration_mae_),
        "sigma_scale": float(model.sigma_scale_),
        "regressor": reg_desc,
    }
    _calibration_state(model, model_desc, files)
    return _write(path, card, model_desc, files)


def _write(path: Path, card: ModelCard, model_desc: dict, files: dict[str, bytes]) -> Path:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("card.json", json.dumps(_jsonable(asdict(card)), indent=1, default=str))
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


def _read_member(zf: zipfile.ZipFile, name: str, path) -> bytes:
    """The bytes of one archive member (its size was capped by ``_check_members``)."""
    try:
        return zf.read(name)
    except KeyError:
        raise InputError(f"Model file {path} lacks {name}") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, ValueError):
        raise InputError(f"Model file {path}: {name} cannot be unpacked; it is refused") from None


def _read_json(zf: zipfile.ZipFile, name: str, path) -> dict:
    raw = _read_member(zf, name, path)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(f"Model file {path}: {name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"Model file {path}: {name} is not a JSON object")
    return value


def read_card(path: str | Path) -> ModelCard:
    """The card of a model file (checksum verified; nothing else is read).

    Args:
        path: the model file.

    Returns:
        Its ``ModelCard``.
    """
    return _card(_open(path), path)


def _card(zf: zipfile.ZipFile, path) -> ModelCard:
    raw = _read_json(zf, "card.json", path)
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


def _trusted(name, path) -> str:
    if name not in TRUSTED:
        raise InputError(
            f"Model file {path} names the type {name!r}, which is not one this version reads "
            f"({', '.join(TRUSTED)}); it is refused"
        )
    return name


def _tree(nodes, values, max_depth, n_features: int, path):
    """A scikit-learn tree from checked arrays (a crafted index must not reach Cython)."""
    from sklearn.tree._tree import Tree

    bad = InputError(f"Model file {path}: a tree's arrays are inconsistent; the file is refused")
    if nodes.dtype.names != _TREE_FIELDS or nodes.ndim != 1 or not len(nodes):
        raise bad
    n = len(nodes)
    if values.shape != (n, 1, 1) or values.dtype != np.float64:
        raise bad
    left, right, feature = (nodes[f].astype(np.int64) for f in _TREE_FIELDS[:3])
    leaf = left == -1
    index = np.arange(n)
    inner_ok = (left[~leaf] > index[~leaf]) & (left[~leaf] < n) & (right[~leaf] > index[~leaf])
    inner_ok &= (right[~leaf] < n) & (feature[~leaf] >= 0) & (feature[~leaf] < n_features)
    if not inner_ok.all() or not (right[leaf] == -1).all():
        raise bad
    if not (np.isfinite(nodes["threshold"][~leaf]).all() and np.isfinite(values).all()):
        raise bad
    tree = Tree(n_features, np.array([1], dtype=np.intp), 1)
    tree.__setstate__(
        {"max_depth": int(max_depth), "node_count": n, "nodes": nodes, "values": values}
    )
    return tree


def _forest_bytes(trees: int, rows: int) -> int:
    """The most bytes ``forest.npz`` can need for ``trees`` trees grown on ``rows`` rows: a
    tree has at most 2·rows − 1 nodes (one sample per leaf), each a 64-byte node record and an
    8-byte value, plus each tree's three array headers and archive entries."""
    return trees * ((2 * rows - 1) * 72 + 1536) + 65536


def _rebuild_regressor(desc: dict, zf: zipfile.ZipFile, path, rows: int | None = None):
    """A regressor from its description; ``rows`` (the training rows, where known) bounds what
    its arrays may unpack to, checked from the ZIP directory before anything is inflated."""
    name = _trusted(desc.get("class"), path)
    n_features = desc.get("n_features_in")
    if not isinstance(n_features, int) or not 0 < n_features <= MAX_FEATURES:
        raise InputError(f"Model file {path}: the regressor's feature count is missing or absurd")
    params = desc.get("params", {})
    if name == "UncertainForestRegressor":
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.tree import DecisionTreeRegressor

        from bandgaps.models.forest import UncertainForestRegressor

        reg = UncertainForestRegressor(**params)
        trees = desc.get("trees")
        if not isinstance(trees, int) or not 0 < trees <= MAX_TREES:
            raise InputError(f"Model file {path}: its tree count is malformed; it is refused")
        declared = zf.getinfo("forest.npz").file_size if "forest.npz" in zf.namelist() else 0
        if rows is not None and declared > _forest_bytes(trees, rows):
            raise InputError(
                f"Model file {path}: forest.npz would unpack to {declared:,} bytes, more than "
                f"{trees:,} trees grown on {rows:,} rows can need "
                f"({_forest_bytes(trees, rows):,}); it is refused"
            )
        try:
            arrays = np.load(io.BytesIO(zf.read("forest.npz")), allow_pickle=False)
            trees = []
            for i in range(int(desc["trees"])):
                est = DecisionTreeRegressor()
                est.tree_ = _tree(
                    arrays[f"nodes_{i}"],
                    arrays[f"values_{i}"],
                    arrays[f"max_depth_{i}"],
                    n_features,
                    path,
                )
                est.n_features_in_ = n_features
                est.n_outputs_ = 1
                est.max_features_ = int(arrays[f"max_features_{i}"])
                trees.append(est)
        except InputError:
            raise
        except Exception as exc:  # a missing member or an array of the wrong kind
            raise InputError(
                f"Model file {path}: unreadable forest ({type(exc).__name__}); the file is refused"
            ) from None
        forest = RandomForestRegressor(n_estimators=len(trees))
        forest.estimators_ = trees
        forest.estimator_ = DecisionTreeRegressor()
        forest.n_features_in_ = n_features
        forest.n_outputs_ = 1
        reg.forest_ = forest
    else:  # BoostedRegressor
        import lightgbm as lgb

        from bandgaps.models.boosting import BoostedRegressor

        params = {**params, "objectives": tuple(params.get("objectives", ()))}
        prefix = desc.get("prefix", "")
        if not isinstance(prefix, str) or (prefix and not prefix.replace("-", "").isalnum()):
            raise InputError(f"Model file {path}: a booster name is malformed; it is refused")
        reg = BoostedRegressor(**params)
        counts = desc.get("boosters", {})
        if not isinstance(counts, dict) or not all(
            isinstance(counts.get(g, 0), int) and 0 <= counts.get(g, 0) <= MAX_BOOSTERS
            for g in ("point", "quantile")
        ):
            raise InputError(f"Model file {path}: its booster counts are malformed; it is refused")
        loaded: dict[str, list] = {}
        for group in ("point", "quantile"):
            loaded[group] = []
            for k in range(counts.get(group, 0)):
                name = f"{prefix}booster-{group}-{k}.txt"
                try:
                    text = _read_member(zf, name, path).decode("utf-8")
                except UnicodeDecodeError:
                    raise InputError(f"Model file {path}: {name} is not text") from None
                # LightGBM parses only a text rebuilt from checked fields, never the file's own
                checked = checked_model_text(text, n_features, f"Model file {path}, {name}")
                try:
                    loaded[group].append(lgb.Booster(model_str=checked))
                except Exception as exc:
                    raise InputError(
                        f"Model file {path}: unreadable booster {name} ({type(exc).__name__}); "
                        "it is refused"
                    ) from None
        if not loaded["point"] or any(
            b.num_feature() != n_features for bs in loaded.values() for b in bs
        ):
            raise InputError(f"Model file {path}: its boosters do not match; it is refused")
        reg.boosters_, reg.quantile_boosters_ = loaded["point"], loaded["quantile"]
    reg.n_features_in_ = n_features
    return reg


def load_model(path: str | Path, check_versions: bool = True) -> tuple[Any, ModelCard, dict]:
    """Read a model file: checksum, then card, then the payload, every field checked before a
    library parses it; files made with other versions or features, and any type outside
    ``TRUSTED``, are refused.

    Args:
        path: the model file.
        check_versions: refuse a file made with other library versions.

    Returns:
        ``(model, card, {})``.

    Raises:
        InputError: one line naming what is wrong with the file.
    """
    from bandgaps.models.calibrated import CalibratedCompositionModel
    from bandgaps.models.composition import make_model
    from bandgaps.models.domain import ApplicabilityDomain
    from bandgaps.models.intervals import IntervalCalibrator

    zf = _open(path)  # read and checksummed once
    card = _card(zf, path)
    if check_versions:
        _check_versions(path, card)
    desc = _read_json(zf, "model.json", path)
    _trusted(desc.get("class"), path)
    if desc["class"] in ("MeasuredGapModel", "PBEReference"):
        return _load_transfer(desc, zf, path), card, {}
    if desc["class"] != "CalibratedCompositionModel":
        raise InputError(f"Model file {path} does not hold a composition model")
    try:
        model = CalibratedCompositionModel(**desc["params"])
        model.pipeline_ = make_model(model.kind, feature_set=model.feature_set, cache=model.cache)
        n_train = desc["n_train"]
        if not isinstance(n_train, int) or n_train < 1:
            raise InputError(f"Model file {path}: its row counts are malformed; it is refused")
        regressor = _rebuild_regressor(desc["regressor"], zf, path, rows=n_train)
        model.n_train_ = n_train
        model.n_calibration_ = int(desc["n_calibration"])
        model.calibration_mae_ = float(desc["calibration_mae"])
        model.sigma_scale_ = float(desc["sigma_scale"])
        # NaN: trained without calibration rows; otherwise a positive, finite scale and MAE
        for name, least in (("sigma_scale_", 1e-12), ("calibration_mae_", 0.0)):
            value = getattr(model, name)
            if not np.isnan(value) and not (np.isfinite(value) and value >= least):
                raise InputError(f"Model file {path}: its {name[:-1]} is {value}; it is refused")
        if model.n_train_ < 1 or model.n_calibration_ < 0:
            raise InputError(f"Model file {path}: its row counts are malformed; it is refused")
        model.intervals_ = _load_part(IntervalCalibrator, desc["intervals"], "intervals", zf, path)
        model.domain_ = _load_part(ApplicabilityDomain, desc["domain"], "domain", zf, path)
    except Exception as exc:
        raise _unreadable(exc, path) from None
    model.pipeline_.steps[-1] = ("regressor", regressor)
    model.pipeline_[0].fit()
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
        if kind == "PBEReference":
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


def _load_part(cls, fields, name: str, zf: zipfile.ZipFile, path):
    """An ``IntervalCalibrator`` or ``ApplicabilityDomain`` from its fields and plain arrays."""
    if fields is None:
        return None
    try:
        with np.load(io.BytesIO(zf.read(f"{name}.npz")), allow_pickle=False) as arrays:
            return cls.from_state(fields, {k: arrays[k] for k in arrays.files})
    except Exception as exc:
        detail = str(exc) if isinstance(exc, InputError) else type(exc).__name__
        raise InputError(
            f"Model file {path}: unreadable {name} ({detail}); it is refused"
        ) from None


def _load_reference(desc: dict, zf: zipfile.ZipFile, path):
    from bandgaps.features.composition import get_feature_set
    from bandgaps.models.transfer import MetalClassifier, PBEReference

    if not isinstance(desc, dict) or desc.get("class") != "PBEReference":
        raise InputError(f"Model file {path}: the PBE reference is missing; it is refused")
    ref = PBEReference(get_feature_set(desc.get("feature_set")).name)
    ref.gap_model_ = _rebuild_regressor(desc["gap"], zf, path)
    metal = MetalClassifier()
    metal.booster_ = _rebuild_regressor(desc["metal"], zf, path)
    metal.classes_ = np.array([0, 1])
    metal.n_features_in_ = metal.booster_.n_features_in_
    ref.metal_model_ = metal
    ref.n_train_ = int(desc["n_train"])
    return ref


def _load_gated(member: dict, zf: zipfile.ZipFile, path, width: int):
    from bandgaps.models.transfer import GatedGapModel, MetalClassifier

    params = dict(member["params"])
    columns = params.get("columns")
    if columns is not None and (
        not isinstance(columns, list)
        or not all(isinstance(c, int) and 0 <= c < width for c in columns)
    ):
        raise InputError(f"Model file {path}: a member's columns are malformed; it is refused")
    residual = params.get("residual_column")
    if residual is not None and not (isinstance(residual, int) and 0 <= residual < width):
        raise InputError(f"Model file {path}: a member's columns are malformed; it is refused")
    gated = GatedGapModel(**params)
    gated.regressor_ = _rebuild_regressor(member["regressor"], zf, path)
    n_read = width if columns is None else len(columns)
    gated.gate_ = None
    if member.get("gate") is not None:
        gate = MetalClassifier()
        gate.booster_ = _rebuild_regressor(member["gate"], zf, path)
        gate.classes_ = np.array([0, 1])
        gate.n_features_in_ = gate.booster_.n_features_in_
        if gate.n_features_in_ != n_read:
            raise InputError(f"Model file {path}: its parts do not fit together; it is refused")
        gated.gate_ = gate
    if gated.regressor_.n_features_in_ != n_read or member.get("n_features_in") != width:
        raise InputError(f"Model file {path}: its parts do not fit together; it is refused")
    gated.n_features_in_ = width
    return gated


def _load_transfer(desc: dict, zf: zipfile.ZipFile, path):
    """A ``PBEReference`` or ``MeasuredGapModel`` from checked parts."""
    from bandgaps.features.composition import get_feature_set
    from bandgaps.models.transfer import GatedCommittee, MeasuredGapModel

    try:
        if desc["class"] == "PBEReference":
            reference = _load_reference(desc, zf, path)
            _self_test(reference, path)
            return reference
        ref = _load_reference(desc["reference"], zf, path)
        feature_set = get_feature_set(desc["feature_set"]).name
        n_comp = _feature_count(feature_set)
        if ref.gap_model_.n_features_in_ != n_comp:
            raise InputError(f"Model file {path}: its parts do not fit together; it is refused")
        lookup = _load_lookup(desc, zf, path) if desc.get("lookup") else None
        width = n_comp + 2 + (0 if lookup is None else 3)
        members = [_load_gated(m, zf, path, width) for m in desc["members"]]
        if not members or (len(members) > 1 and not desc.get("committee")):
            raise InputError(f"Model file {path}: its members are malformed; it is refused")
        if desc.get("committee"):
            model = GatedCommittee(members)
            model.members_ = members
            model.n_features_in_ = width
        else:
            model = members[0]
        model.n_train_ = int(desc["n_train"])
        measured = MeasuredGapModel(ref, feature_set, model, lookup)
    except Exception as exc:
        raise _unreadable(exc, path) from None
    from bandgaps.models.domain import ApplicabilityDomain
    from bandgaps.models.intervals import IntervalCalibrator

    measured.intervals_ = _load_part(
        IntervalCalibrator, desc.get("intervals"), "intervals", zf, path
    )
    measured.domain_ = _load_part(ApplicabilityDomain, desc.get("domain"), "domain", zf, path)
    if measured.domain_ is not None and len(measured.domain_.mean_) != width:
        raise InputError(f"Model file {path}: its parts do not fit together; it is refused")
    _self_test(measured, path)
    return measured


def _unreadable(exc: Exception, path) -> InputError:
    """The one error for a model description that cannot be rebuilt (an ``InputError`` raised
    while rebuilding is passed on as it is)."""
    if isinstance(exc, InputError):
        return exc
    return InputError(
        f"Model file {path}: unreadable model description ({type(exc).__name__}); it is refused"
    )


def _load_lookup(desc: dict, zf: zipfile.ZipFile, path):
    """The MP gap lookup: a text array of keys and a float array of three columns."""
    from bandgaps.models.transfer import MPGapLookup

    arrays = np.load(io.BytesIO(zf.read("lookup.npz")), allow_pickle=False)
    keys, values = arrays["keys"], arrays["values"]
    if (
        keys.dtype.kind != "U"
        or keys.ndim != 1
        or values.shape != (len(keys), 3)
        or values.dtype != np.float64
        or len(keys) != int(desc["lookup"])
    ):
        raise InputError(f"Model file {path}: its composition lookup is malformed; it is refused")
    lookup = MPGapLookup()
    lookup.keys_, lookup.values_ = keys, values
    return lookup


def _feature_count(feature_set: str) -> int:
    from bandgaps.features.composition import CompositionFeatures

    return len(CompositionFeatures(feature_set, cache=False).feature_labels())
