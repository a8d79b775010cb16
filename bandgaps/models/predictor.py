"""Every model a user can name, resolved in one place, predicting one kind of table.

A name is a named model (``measured-gap``, ``pbe-gap``), a model file from ``bandgaps train``,
or a pretrained MEGNet family with its fidelity after a colon (``megnet-2018``,
``megnet-mf:exp``). ``resolve`` turns it into a ``Predictor`` — plain data, so a Dask worker
can be sent one — and ``Predictor.predict_table(inputs, level=…, risk=…)`` gives the same
columns whichever kind it is, in this order, each where the model has it:

* the value, named by its quantity (``measured gap (eV)``, ``PBE gap (eV)``, a model file's
  target);
* ``σ`` (a calibrated σ, a committee's or an ensemble's spread);
* ``lower L`` and ``upper L``, the conformal interval at each level ``L``, and ``M possible L``
  where the set at ``L`` also holds the target's minimum ``M`` (0 eV: a metal);
* ``safe upper (risk r)``, a one-sided bound exceeded with probability ``r``;
* ``metal probability``;
* ``domain score`` and ``in domain``.

``bandgaps predict``, ``predict-structure`` and ``screen`` print or write this table; ``screen``
puts the model's name in front of each column (``measured-gap: σ``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bandgaps.errors import InputError, OptionError

#: Model objects already loaded in this process, keyed by ``Predictor.key`` (a Dask worker
#: process keeps them between partitions).
_LOADED: dict[str, object] = {}
#: The interval level reported when none is asked for (a calibrated model always has one).
DEFAULT_LEVEL = 0.9


@dataclass(frozen=True)
class Predictor:
    """One model, as ``resolve`` found it: what it is, where it lives, what it predicts.

    Attributes:
        name: as the user named it; the prefix of its columns in a screen.
        kind: ``named``, ``file`` or ``megnet``.
        quantity: the value column (``measured gap (eV)``, a model file's target, …).
        path: the model file (named and file models).
        family: the MEGNet family.
        fidelity: the MEGNet multi-fidelity state.
        sha256: of the model file, or of the family's weight checksums.
    """

    name: str  # as the user named it; the prefix of its columns in a screen
    kind: str  # "named", "file" or "megnet"
    quantity: str  # the value column: "measured gap (eV)", a model file's target, …
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
        """What must match for a screen to be continued: no paths of this machine's cache."""
        return {k: v for k, v in asdict(self).items() if k != "path"}

    def load(self):
        """The model object (loaded once per process)."""
        if self.key not in _LOADED:
            if self.kind == "megnet":
                from bandgaps.models.megnet import PretrainedEnsemble

                _LOADED[self.key] = PretrainedEnsemble(self.family)
            else:
                from bandgaps.models.persist import load_model

                _LOADED[self.key] = load_model(self.path)[0]
        return _LOADED[self.key]

    def predict_table(self, inputs, level=None, risk: float | None = None, steps=None):
        """The prediction table of ``inputs``, one row each, in the columns the module lists.

        Args:
            inputs: compositions (``Composition`` or formulas already parsed) for composition
                models; structures for MEGNet (a composition model reads a structure's
                composition).
            level: one coverage or several for the conformal intervals; default 0.9 for a
                model that has intervals, refused (one clear error) by one that has none.
            risk: adds ``safe upper (risk r)``, a bound exceeded with probability ``risk``.
            steps: a dict that gains the seconds of each step (``features``/``model``, or
                ``graphs``/``network``), as a screen's workers report them.

        Returns:
            A ``DataFrame`` with the value column first; ``attrs`` hold the quantity, the
            interval method and, with a domain, the unseen elements and the domain's rule.
        """
        levels = check_levels(level, risk)
        clock = StepClock(steps)
        model = self.load()
        if self.kind == "megnet":
            if levels or risk is not None:
                raise _no_intervals(self)
            model._check(inputs)  # elements beyond the embeddings, disorder: one clear line
            with clock("graphs"):
                graphs = model.graph_inputs(inputs)
            with clock("network"):
                members = model.predict_members(inputs, self.fidelity, inputs=graphs)
            return pd.DataFrame({self.quantity: members.mean(axis=0), "σ": members.std(axis=0)})
        comps = [getattr(x, "composition", x) for x in inputs]
        return _composition_table(self, model, comps, levels, risk, clock)


def check_options(name: str, level=None, risk: float | None = None) -> tuple[float, ...]:
    """Check the levels and the risk asked of model ``name`` before any model is read or
    trained: each in (0, 1), and none asked of a named model or MEGNet family without
    conformal intervals (a model file says so when it is read).

    Args:
        name: the model as the user named it.
        level: one coverage or several, or ``None``.
        risk: the one-sided bound's risk, or ``None``.

    Returns:
        The levels as a tuple of floats (empty when none was asked).

    Examples:
        >>> check_options("measured-gap", [0.68, 0.95])
        (0.68, 0.95)
    """
    from bandgaps.models import megnet, named

    levels = check_levels(level, risk)
    if (levels or risk is not None) and not Path(name).is_file():
        base = name.partition(":")[0]
        if (name in named.NAMED and name != "measured-gap") or base in megnet.FAMILIES:
            raise InputError(
                f"The model {name!r} has no conformal intervals; ask for --level or --risk "
                "of measured-gap or of a model file from `bandgaps train`"
            )
    return tuple(float(v) for v in levels)


def check_levels(level, risk: float | None = None) -> tuple[float, ...]:
    """Check interval levels and a risk: each in (0, 1), one clear error otherwise.

    Args:
        level: one coverage or several, or ``None``.
        risk: a one-sided bound's risk, or ``None``.

    Returns:
        The levels as a tuple of floats.
    """
    levels = () if level is None else (level,) if np.isscalar(level) else tuple(level)
    for value in levels:
        if not 0 < float(value) < 1:
            raise OptionError(f"The level (coverage) must be between 0 and 1, not {value:g}")
    if risk is not None and not 0 < risk < 1:
        raise OptionError(f"The risk must be between 0 and 1, not {risk:g}")
    return tuple(float(v) for v in levels)


def _no_intervals(predictor: Predictor) -> InputError:
    what = {"named": "The file of the named model", "file": "The model file"}.get(
        predictor.kind, "The model"
    )
    return InputError(f"{what} {predictor.name!r} holds no conformal intervals")


class StepClock:
    """``with clock("graphs"):`` adds the block's seconds to ``steps["graphs"]``.

    Args:
        steps: the dict that gains the seconds (nothing is recorded when ``None``).
    """

    def __init__(self, steps: dict | None):
        self.steps = steps

    @contextlib.contextmanager
    def __call__(self, step: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.steps is not None:
                self.steps[step] = self.steps.get(step, 0.0) + time.perf_counter() - t0


def _composition_table(spec, model, comps, levels, risk, clock) -> pd.DataFrame:
    """The table of a named model or a model file for parsed compositions."""
    from bandgaps.models.pbe_gap import PBEGapModel
    from bandgaps.models.transfer import GatedCommittee, PBEReference

    attrs: dict[str, object] = {"quantity": spec.quantity}
    if isinstance(model, (PBEReference, PBEGapModel)):
        if levels or risk is not None:
            raise _no_intervals(spec)
        from bandgaps.features.composition import CompositionFeatures

        with clock("features"):
            X = CompositionFeatures(model.feature_set).transform(comps)
        with clock("model"):
            cols = model.transform_features(X)
        frame = pd.DataFrame({spec.quantity: cols[:, 0], "metal probability": cols[:, 1]})
        if getattr(model, "domain_", None) is not None:
            _add_domain(frame, attrs, model.domain_.assess(X, comps, None))
        frame.attrs.update(attrs)
        return frame
    with clock("features"):
        X = model.transform(comps)
    with clock("model"):
        band = model.predict_band_features(X)
        half = (band[2] - band[1]) / 2
        frame = pd.DataFrame({spec.quantity: band[0]})
        if spec.kind == "file":
            frame["σ"] = model.calibrated_std(half)
        elif isinstance(model.model, GatedCommittee):
            frame["σ"] = half  # the committee members' spread
        calibrated = getattr(model, "calibrated", False)
        if (levels or risk is not None) and not calibrated:
            raise _no_intervals(spec)
        if calibrated:
            intervals = model.intervals_
            for lv in levels or (DEFAULT_LEVEL,):
                lo, hi, includes = _interval_set(spec, model, X, lv, band)
                frame[f"lower {lv:g}"] = lo
                frame[f"upper {lv:g}"] = hi
                if intervals.grouping_ == "label":
                    frame[f"{intervals.y_min_:g} possible {lv:g}"] = includes
            if risk is not None:
                frame[f"safe upper (risk {risk:g})"] = intervals.upper(*band, risk)
            attrs["interval method"] = intervals.label
        if spec.kind == "named":
            frame["metal probability"] = model.predict_metal_proba_features(X)
        if calibrated and getattr(model, "domain_", None) is not None:
            _add_domain(frame, attrs, model.domain_.assess(X, comps, half))
    frame.attrs.update(attrs)
    return frame


def _add_domain(frame: pd.DataFrame, attrs: dict, domain: dict) -> None:
    """The domain score and flag as columns, the unseen elements and reasons as ``attrs``."""
    frame["domain score"] = domain["domain score"]
    frame["in domain"] = domain["in domain"]
    attrs["unseen elements"] = domain["unseen elements"]
    attrs["domain reasons"] = domain["why"]


def _interval_set(spec, model, X, level: float, band) -> tuple:
    """``(lower, upper, includes_min)`` of the conformal set at ``level``, the lower bound
    reaching the target's minimum where the set holds it."""
    if spec.kind == "named":
        sets = model.intervals_features(X, level, band)
        return sets["lower"], sets["upper"], sets["includes_min"]
    lo, hi, includes = model.predict_interval_sets_features(X, level, band)
    return model.intervals_.reach_minimum(lo, includes), hi, np.asarray(includes, bool)


def resolve(name: str, structures: bool = False, on_training=None) -> Predictor:
    """The ``Predictor`` a user means by ``name``: the one place a model name is resolved.

    Args:
        name: a model file's path when one is there; else a named model (``measured-gap``,
            ``pbe-gap``: trained here when its file is missing or stale); else a MEGNet
            family with an optional ``:fidelity`` (``megnet-mf:exp``).
        structures: whether the inputs are crystal structures (MEGNet needs them).
        on_training: called with the name before a named model is trained (a message).

    Returns:
        A ``Predictor``: plain data naming the model, its kind, quantity and checksum.

    Raises:
        InputError: an unknown name, a missing file, or a structure model given formulas.
    """
    from bandgaps.files import sha256_file
    from bandgaps.models import megnet, named
    from bandgaps.models.persist import read_card

    family_name, _, fidelity = name.partition(":")
    if Path(name).is_file():
        card = read_card(name)
        path = str(Path(name).resolve())  # workers may run in another folder
        predictor = Predictor(Path(name).stem, "file", card.target, path, sha256=sha256_file(path))
    elif name in named.NAMED:
        path = named.model_path(name)
        if not named.is_current(path) and on_training is not None:
            on_training(name)
        path = named.ensure(name)
        predictor = Predictor(
            name,
            "named",
            f"{named.NAMED[name].quantity} (eV)",
            str(path.resolve()),
            sha256=sha256_file(path),
        )
    elif family_name in megnet.FAMILIES:
        family = megnet.get_family(family_name)
        megnet.fidelity_state(fidelity or None, family)
        checksums = json.dumps(family.checksums(), sort_keys=True).encode()
        predictor = Predictor(
            name,
            "megnet",
            f"{megnet.TRAINED_ON[fidelity or None]} gap (eV)",
            family=family_name,
            fidelity=fidelity or None,
            sha256=hashlib.sha256(checksums).hexdigest(),
        )
    elif Path(name).suffix or "/" in name or "\\" in name:  # a path: a model file not there
        raise InputError(
            f"Model file {name} does not exist (a model file from `bandgaps train`, or a "
            f"named model: {', '.join(named.NAMED)})"
        )
    else:
        raise InputError(
            f"Unknown model {name!r}: give a named model ({', '.join(named.NAMED)}), a model "
            f"file from `bandgaps train`, or a MEGNet family ({', '.join(megnet.FAMILIES)}, "
            "with :FIDELITY for multi-fidelity ones)"
        )
    if predictor.needs_structures and not structures:
        raise InputError(
            f"{name} predicts from crystal structures; the input is a formula table "
            "(give an .xyz file, a folder or a zip of CIF/POSCAR files)"
        )
    return predictor


def resolve_all(names: Sequence[str], structures: bool = False, on_training=None):
    """``resolve`` for several names, each used once (a screen's ``--model`` options).

    Args:
        names: the models, in the order their columns are written.
        structures: whether the inputs are crystal structures.
        on_training: as for ``resolve``.

    Returns:
        One ``Predictor`` per name.
    """
    if not names:
        raise InputError("Name at least one model (--model), e.g. measured-gap")
    out: list[Predictor] = []
    for name in names:
        predictor = resolve(name, structures, on_training)
        if predictor.name in {p.name for p in out}:
            raise InputError(f"Model {predictor.name!r} is named twice")
        out.append(predictor)
    return out


__all__ = [
    "DEFAULT_LEVEL",
    "Predictor",
    "StepClock",
    "check_levels",
    "check_options",
    "resolve",
    "resolve_all",
]
