"""Measured band gaps learned from both fidelities: PBE-side models feed a gated gap model.

PBE underestimates gaps, and the measured-gap data are small (4,604 rows of ``expt_gap``). The
PBE data are large (106,113 rows of ``mp_gap``) but answer another question. ``PBEReference``
learns the PBE side once — the predicted PBE gap and the probability that PBE makes a
composition a metal — and offers them as two features in matminer's featurizer shape.
``GatedGapModel`` then predicts the measured gap from composition features plus those
columns: a metal gate (a LightGBM classifier, which may also learn from extra metal /
non-metal labels such as ``expt_is_metal``) sends metals to exactly 0 eV, and a regressor
trained on the non-metals predicts the rest, optionally as a correction on top of the PBE
prediction (``residual_column``). ``MeasuredGapModel`` joins the three for formulas.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(400, 3)); y = np.where(X[:, 0] > 0.5, 0.0, 1 + X[:, 1])
    >>> model = GatedGapModel(regressor_params={"n_estimators": 50},
    ...                       gate_params={"n_estimators": 50}).fit(X, y)
    >>> float(model.predict(np.array([[0.9, 0.5, 0.5]]))[0])
    0.0
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from bandgaps.config import SEED
from bandgaps.errors import InputError
from bandgaps.models.boosting import BoostedRegressor

#: What the two PBE-side columns hold, in order.
TRANSFER_LABELS = ("PBE gap (predicted)", "PBE metal probability")

#: LightGBM settings for the small measured-gap tables (a few thousand rows), fixed before any
#: benchmark fold was seen; the number of trees is chosen by early stopping on training rows.
SMALL_DATA = {
    "n_estimators": 3000,
    "learning_rate": 0.03,
    "num_leaves": 31,
    "min_child_samples": 5,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "early_stopping": 0.1,
}

#: Settings for the large PBE table (``mp_gap``: 10⁵ rows).
LARGE_DATA = {
    "n_estimators": 3000,
    "learning_rate": 0.05,
    "num_leaves": 255,
    "min_child_samples": 10,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "early_stopping": 0.1,
}


def composition_key(comp) -> tuple:
    """Key that is equal for equal compositions however written (``SiGe`` = ``Si0.5Ge0.5``).

    Args:
        comp: a composition or a formula.

    Returns:
        ``((element, fraction), …)`` sorted by element.

    Examples:
        >>> composition_key("SiGe") == composition_key("Si0.5Ge0.5")
        True
    """
    from pymatgen.core import Composition

    comp = comp if isinstance(comp, Composition) else Composition(str(comp))
    frac = comp.fractional_composition
    return tuple(sorted((el.symbol, round(float(amt), 6)) for el, amt in frac.items()))


def only_elements(comp, elements: Sequence[str]) -> bool:
    """Whether a composition is made only of ``elements`` (the leave-system-out test).

    Args:
        comp: a composition or a formula.
        elements: the system's element symbols.

    Returns:
        ``True`` when it holds no other element.

    Examples:
        >>> only_elements("Si0.3Ge0.7", ("Si", "Ge")), only_elements("SiGeC", ("Si", "Ge"))
        (True, False)
    """
    from pymatgen.core import Composition

    comp = comp if isinstance(comp, Composition) else Composition(str(comp))
    return {el.symbol for el in comp.elements} <= set(elements)


#: Gates and regressors fitted in this process, by a digest of their class, parameters and
#: training rows (``_shared_fit``); at most ``_SHARED_MAX`` are kept.
_SHARED: OrderedDict[str, BaseEstimator] = OrderedDict()
_SHARED_MAX = 32


def _shared_fit(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> BaseEstimator:
    """``estimator`` fitted on ``(X, y)``, or the same fit made earlier in this process.

    Variants of ``GatedGapModel`` often share a part: the ablation's "+ expt_is_metal labels"
    and "+ residual on PBE" variants have the same gate, "+ metal gate" and "+ expt_is_metal
    labels" the same regressor. A fit with the same class, parameters (seed included) and
    training rows gives the same model, so it is made once and shared.
    """
    import hashlib

    X, y = np.ascontiguousarray(X, float), np.ascontiguousarray(y, float)
    h = hashlib.sha256(f"{type(estimator).__name__}|{estimator.get_params()!r}".encode())
    for a in (X, y):
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    key = h.hexdigest()
    if key in _SHARED:
        _SHARED.move_to_end(key)
        return _SHARED[key]
    fitted = estimator.fit(X, y)
    _SHARED[key] = fitted
    while len(_SHARED) > _SHARED_MAX:
        _SHARED.popitem(last=False)
    return fitted


class MetalClassifier(ClassifierMixin, BaseEstimator):
    """Metal (1) / non-metal (0) from a feature matrix: LightGBM boosters with a log-loss,
    averaged; ``predict_proba`` gives the probability of a metal.

    Args:
        params: the boosters' settings (default ``SMALL_DATA``).
        n_boosters: boosters averaged (seeds counting up).
        random_state: the first booster's seed.
    """

    def __init__(self, params: dict | None = None, n_boosters: int = 2, random_state: int = SEED):
        self.params = params
        self.n_boosters = n_boosters
        self.random_state = random_state

    def fit(self, X, y):
        """Fit the boosters.

        Args:
            X: the feature matrix.
            y: 1 for a metal, 0 for a non-metal.

        Returns:
            ``self``.
        """
        y = np.asarray(y, float)
        if not np.isin(y, (0.0, 1.0)).all():
            raise InputError("metal labels must be 0 (non-metal) or 1 (metal)")
        self.classes_ = np.array([0, 1])
        params = {**SMALL_DATA, **(self.params or {})}
        self.booster_ = BoostedRegressor(
            objectives=("binary",) * self.n_boosters,
            sigma=False,
            random_state=self.random_state,
            **params,
        ).fit(X, y)
        self.n_features_in_ = self.booster_.n_features_in_
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of a non-metal and of a metal.

        Args:
            X: the feature matrix.

        Returns:
            An array ``(n, 2)``.
        """
        check_is_fitted(self, "booster_")
        p = np.clip(self.booster_.predict(X), 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """Metal (1) where its probability is above 0.5, else 0.

        Args:
            X: the feature matrix.

        Returns:
            The labels.
        """
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def state(self, prefix: str = "") -> tuple[dict, dict[str, bytes]]:
        """Plain data of the fitted classifier: its boosters' (``BoostedRegressor.state``).

        Args:
            prefix: names its members in a file that holds several models.

        Returns:
            ``(fields, files)`` for ``bandgaps.models.persist``.
        """
        check_is_fitted(self, "booster_")
        return self.booster_.state(prefix)

    @classmethod
    def from_state(cls, fields: dict, archive) -> MetalClassifier:
        """Rebuild a fitted classifier from ``state()``'s data.

        Args:
            fields: the description ``state()`` wrote.
            archive: the model file's ``bandgaps.models.persist.Archive``.

        Returns:
            The fitted ``MetalClassifier``.
        """
        model = cls()
        model.booster_ = archive.estimator(fields, "BoostedRegressor")
        model.classes_ = np.array([0, 1])
        model.n_features_in_ = model.booster_.n_features_in_
        return model


class GatedGapModel(RegressorMixin, BaseEstimator):
    """Band gap = 0 eV where the metal gate says metal, else a regressor of the non-metals.

    Args:
        gate: fit the metal gate; ``False`` fits one regressor on every row (metals too).
        threshold: the metal probability above which the gap is 0 eV.
        residual_column: a column of ``X`` (the predicted PBE gap) the regressor corrects
            instead of predicting the gap from scratch.
        columns: the feature columns the model reads (default all).
        extra_labels: let the gate also learn from the extra labelled rows ``fit`` is given.
        regressor_params: the gap regressor's settings.
        gate_params: the gate's settings.
        random_state: seeds both.
    """

    def __init__(
        self,
        gate: bool = True,
        threshold: float = 0.5,
        residual_column: int | None = None,
        columns: Sequence[int] | None = None,
        extra_labels: bool = True,
        regressor_params: dict | None = None,
        gate_params: dict | None = None,
        random_state: int = SEED,
    ):
        self.gate = gate
        self.threshold = threshold
        self.residual_column = residual_column
        self.columns = columns
        self.extra_labels = extra_labels
        self.regressor_params = regressor_params
        self.gate_params = gate_params
        self.random_state = random_state

    def _baseline(self, X: np.ndarray) -> np.ndarray:
        if self.residual_column is None:
            return np.zeros(len(X))
        return np.maximum(X[:, self.residual_column], 0.0)

    def _read(self, X: np.ndarray) -> np.ndarray:
        return X if self.columns is None else X[:, list(self.columns)]

    def fit(self, X, y, X_metal=None, is_metal=None):
        """Fit the gate on metal labels and the regressor on the non-metals.

        Args:
            X: the feature matrix.
            y: the band gaps (0 for a metal).
            X_metal: extra rows with only a metal label.
            is_metal: their labels.

        Returns:
            ``self``.
        """
        X = np.asarray(X, float)
        y = np.asarray(y, float)
        if len(X) != len(y):
            raise InputError(f"{len(X)} feature rows but {len(y)} targets")
        if (y < 0).any():
            raise InputError("band gaps cannot be negative")
        nonmetal = y > 0
        if self.gate:
            Xg, yg = self._read(X), (~nonmetal).astype(float)
            if self.extra_labels and X_metal is not None and len(X_metal):
                Xg = np.vstack([Xg, self._read(np.asarray(X_metal, float))])
                yg = np.concatenate([yg, np.asarray(is_metal, float)])
            self.gate_ = _shared_fit(
                MetalClassifier(self.gate_params, random_state=self.random_state), Xg, yg
            )
            rows = nonmetal
        else:
            self.gate_ = None
            rows = np.ones(len(y), bool)
        if rows.sum() < 10:
            raise InputError(
                f"Need at least 10 non-metal rows to fit the gap regressor, got {rows.sum()}"
            )
        params = {**SMALL_DATA, "objectives": ("l2", "l2"), **(self.regressor_params or {})}
        self.regressor_ = _shared_fit(
            BoostedRegressor(sigma=False, random_state=self.random_state, **params),
            self._read(X[rows]),
            y[rows] - self._baseline(X[rows]),
        )
        self.n_features_in_ = X.shape[1]
        self.n_train_ = len(y)
        return self

    def predict_metal_proba(self, X) -> np.ndarray:
        """Probability that each row is a metal (0 everywhere without a gate).

        Args:
            X: the feature matrix.

        Returns:
            One probability per row.
        """
        check_is_fitted(self, "regressor_")
        X = np.asarray(X, float)
        if self.gate_ is None:
            return np.zeros(len(X))
        return self.gate_.predict_proba(self._read(X))[:, 1]

    def predict(self, X) -> np.ndarray:
        """The band gap: 0 eV where the gate says metal, else the regressor's (never below 0).

        Args:
            X: the feature matrix.

        Returns:
            One gap per row (eV).
        """
        check_is_fitted(self, "regressor_")
        X = np.asarray(X, float)
        gap = np.maximum(self.regressor_.predict(self._read(X)) + self._baseline(X), 0.0)
        if self.gate_ is not None:
            gap = np.where(self.predict_metal_proba(X) > self.threshold, 0.0, gap)
        return gap

    def state(self, prefix: str = "") -> tuple[dict, dict[str, bytes]]:
        """Plain data of the fitted model: parameters, regressor and gate.

        Args:
            prefix: names its members (``m0-``) in a file that holds several.

        Returns:
            ``(fields, files)`` for ``bandgaps.models.persist``.
        """
        from bandgaps.models.persist import jsonable

        check_is_fitted(self, "regressor_")
        regressor, files = self.regressor_.state(f"{prefix}gap-")
        fields = {
            "params": jsonable(self.get_params()),
            "n_features_in": int(self.n_features_in_),
            "regressor": regressor,
            "gate": None,
        }
        if self.gate_ is not None:
            fields["gate"], gate_files = self.gate_.state(f"{prefix}gate-")
            files.update(gate_files)
        return fields, files

    @classmethod
    def from_state(cls, fields: dict, archive, width: int) -> GatedGapModel:
        """Rebuild a fitted model from ``state()``'s data; the columns it reads must lie in
        the ``width`` columns its owner gives it, and its parts must read as many.

        Args:
            fields: the description ``state()`` wrote.
            archive: the model file's ``bandgaps.models.persist.Archive``.
            width: the columns of the matrix it is given.

        Returns:
            The fitted ``GatedGapModel``.
        """
        params = dict(fields["params"])
        columns = params.get("columns")
        if columns is not None and (
            not isinstance(columns, list)
            or not all(isinstance(c, int) and 0 <= c < width for c in columns)
        ):
            raise archive.refuse("a member's columns are malformed")
        residual = params.get("residual_column")
        if residual is not None and not (isinstance(residual, int) and 0 <= residual < width):
            raise archive.refuse("a member's columns are malformed")
        model = cls(**params)
        model.regressor_ = archive.estimator(fields["regressor"], "BoostedRegressor")
        n_read = width if columns is None else len(columns)
        model.gate_ = None
        if fields.get("gate") is not None:
            model.gate_ = MetalClassifier.from_state(fields["gate"], archive)
            if model.gate_.n_features_in_ != n_read:
                raise archive.refuse("its parts do not fit together")
        if model.regressor_.n_features_in_ != n_read or fields.get("n_features_in") != width:
            raise archive.refuse("its parts do not fit together")
        model.n_features_in_ = width
        return model


class GatedCommittee(RegressorMixin, BaseEstimator):
    """The median of several ``GatedGapModel`` variants (and their mean metal probability).

    Variants that differ by less than their cross-validation noise are not worth choosing
    between; the median keeps a gap of 0 eV where most members call the material a metal.

    Args:
        members: unfitted ``GatedGapModel`` variants (each is cloned and fitted).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.uniform(size=(300, 3)); y = np.where(X[:, 0] > 0.5, 0.0, 1 + X[:, 1])
        >>> small = {"n_estimators": 30}
        >>> members = [GatedGapModel(regressor_params=small, gate_params=small, random_state=s)
        ...            for s in range(3)]
        >>> GatedCommittee(members).fit(X, y).predict(X[:2]).shape
        (2,)
    """

    def __init__(self, members: Sequence[GatedGapModel] = ()):
        self.members = members

    def fit(self, X, y, X_metal=None, is_metal=None):
        """Fit a clone of every member.

        Args:
            X: the feature matrix.
            y: the band gaps (0 for a metal).
            X_metal: extra rows with only a metal label.
            is_metal: their labels.

        Returns:
            ``self``.
        """
        if not self.members:
            raise InputError("a committee needs at least one member")
        self.members_ = [clone(m).fit(X, y, X_metal, is_metal) for m in self.members]
        self.n_features_in_ = np.asarray(X).shape[1]
        self.n_train_ = len(y)
        return self

    def predict(self, X, return_std: bool = False):
        """The members' median gap, and how much the variants disagree.

        Args:
            X: the feature matrix.
            return_std: also return the members' standard deviation.

        Returns:
            The gaps, or ``(gaps, spread)``.
        """
        check_is_fitted(self, "members_")
        gaps = np.array([m.predict(X) for m in self.members_])
        median = np.median(gaps, axis=0)
        return (median, gaps.std(axis=0)) if return_std else median

    def predict_metal_proba(self, X) -> np.ndarray:
        """The members' mean metal probability.

        Args:
            X: the feature matrix.

        Returns:
            One probability per row.
        """
        check_is_fitted(self, "members_")
        return np.mean([m.predict_metal_proba(X) for m in self.members_], axis=0)

    def state(self) -> tuple[list[dict], dict[str, bytes]]:
        """Plain data of every fitted member (members ``m0-``, ``m1-``, …).

        Returns:
            ``(fields of each member, files)`` for ``bandgaps.models.persist``.
        """
        check_is_fitted(self, "members_")
        fields, files = [], {}
        for i, member in enumerate(self.members_):
            member_fields, member_files = member.state(f"m{i}-")
            fields.append(member_fields)
            files.update(member_files)
        return fields, files

    @classmethod
    def from_state(cls, fields: list, archive, width: int) -> GatedCommittee:
        """Rebuild a fitted committee from ``state()``'s data.

        Args:
            fields: each member's description.
            archive: the model file's ``bandgaps.models.persist.Archive``.
            width: the columns of the matrix it is given.

        Returns:
            The fitted ``GatedCommittee``.
        """
        if not isinstance(fields, list) or not fields:
            raise archive.refuse("its members are malformed")
        members = [GatedGapModel.from_state(m, archive, width) for m in fields]
        model = cls(members)
        model.members_ = members
        model.n_features_in_ = width
        return model


class PBEReference(TransformerMixin, BaseEstimator):
    """Predicted PBE gap and PBE metal probability of compositions, in matminer's featurizer
    shape (``featurize``, ``feature_labels``, ``citations``); trained once on PBE gaps.

    Args:
        feature_set: the composition features both models read.
        params: the boosters' settings (default ``LARGE_DATA``).
        random_state: seeds both.
    """

    def __init__(
        self,
        feature_set: str = "magpie+fractions",
        params: dict | None = None,
        random_state: int = SEED,
    ):
        self.feature_set = feature_set
        self.params = params
        self.random_state = random_state

    def fit(self, compositions, pbe_gaps) -> PBEReference:
        """Train both PBE-side models.

        Args:
            compositions: formulas or compositions.
            pbe_gaps: their PBE gaps (0 for a metal).

        Returns:
            ``self``.
        """
        from bandgaps.features.composition import CompositionFeatures

        F = CompositionFeatures(self.feature_set).transform(list(compositions))
        return self.fit_features(F, pbe_gaps)

    def fit_features(self, F: np.ndarray, pbe_gaps) -> PBEReference:
        """``fit`` from a feature matrix of ``feature_set`` (to reuse one featurization).

        Args:
            F: the feature matrix.
            pbe_gaps: the PBE gaps.

        Returns:
            ``self``.
        """
        y = np.asarray(pbe_gaps, float)
        params = {**LARGE_DATA, **(self.params or {})}
        self.gap_model_ = BoostedRegressor(
            objectives=("l2",), sigma=False, clip_min=0.0, random_state=self.random_state, **params
        ).fit(F, y)
        self.metal_model_ = MetalClassifier(
            params, n_boosters=1, random_state=self.random_state
        ).fit(F, (y == 0).astype(float))
        self.n_train_ = len(y)
        return self

    def transform_features(self, F: np.ndarray) -> np.ndarray:
        """The two columns from a composition-feature matrix of ``feature_set``.

        Args:
            F: the feature matrix.

        Returns:
            ``(n, 2)``: predicted PBE gap, PBE metal probability.
        """
        check_is_fitted(self, "gap_model_")
        return np.column_stack(
            [self.gap_model_.predict(F), self.metal_model_.predict_proba(F)[:, 1]]
        )

    def featurize_many(self, compositions) -> np.ndarray:
        """The two columns for many compositions.

        Args:
            compositions: formulas or compositions.

        Returns:
            ``(n, 2)``: predicted PBE gap, PBE metal probability.
        """
        from bandgaps.features.composition import CompositionFeatures

        F = CompositionFeatures(self.feature_set).transform(list(compositions))
        return self.transform_features(F)

    def transform(self, compositions) -> np.ndarray:
        """Same as ``featurize_many`` (scikit-learn's transformer shape).

        Args:
            compositions: formulas or compositions.

        Returns:
            ``(n, 2)``.
        """
        return self.featurize_many(compositions)

    def featurize(self, comp) -> list[float]:
        """The columns of one composition, in the order of ``feature_labels``.

        Args:
            comp: a composition or a formula.

        Returns:
            The values.
        """
        return self.featurize_many([comp])[0].tolist()

    def feature_labels(self) -> list[str]:
        return list(TRANSFER_LABELS)

    def citations(self) -> list[str]:
        return [
            "@article{Dunn2020, title={Benchmarking materials property prediction methods: the "
            "Matbench test set and Automatminer reference algorithm}, journal={npj Comput. "
            "Mater.}, volume={6}, pages={138}, year={2020}}"
        ]

    def implementors(self) -> list[str]:
        return ["bandgaps"]

    def state(self, prefix: str = "ref-") -> tuple[dict, dict[str, bytes]]:
        """Plain data of both fitted PBE-side models.

        Args:
            prefix: names its members (``ref-gap-…``, ``ref-metal-…``).

        Returns:
            ``(fields, files)`` for ``bandgaps.models.persist``.
        """
        check_is_fitted(self, "gap_model_")
        gap, files = self.gap_model_.state(f"{prefix}gap-")
        metal, metal_files = self.metal_model_.state(f"{prefix}metal-")
        fields = {
            "class": type(self).__name__,
            "feature_set": self.feature_set,
            "n_train": int(self.n_train_),
            "gap": gap,
            "metal": metal,
        }
        return fields, {**files, **metal_files}

    @classmethod
    def from_state(cls, fields: dict, archive) -> PBEReference:
        """Rebuild a fitted reference from ``state()``'s data.

        Args:
            fields: the description ``state()`` wrote.
            archive: the model file's ``bandgaps.models.persist.Archive``.

        Returns:
            The fitted ``PBEReference``.
        """
        from bandgaps.features.composition import get_feature_set

        if not isinstance(fields, dict) or fields.get("class") != cls.__name__:
            raise archive.refuse("the PBE reference is missing")
        model = cls(get_feature_set(fields.get("feature_set")).name)
        model.gap_model_ = archive.estimator(fields["gap"], "BoostedRegressor")
        model.metal_model_ = MetalClassifier.from_state(fields["metal"], archive)
        n_train = fields["n_train"]
        if not isinstance(n_train, int) or n_train < 0:
            raise archive.refuse("its row counts are malformed")
        model.n_train_ = n_train
        return model


#: What the lookup's columns hold, in order.
LOOKUP_LABELS = (
    "PBE gap (MP, mean of polymorphs)",
    "PBE gap (MP, lowest polymorph)",
    "MP polymorphs",
)


class MPGapLookup(BaseEstimator):
    """The PBE gaps the Materials Project lists for exactly this composition (mean and lowest
    over its polymorphs, and how many): NaN and 0 where MP has none. matminer's featurizer
    shape; learned from any ``composition → PBE gap`` table."""

    def fit(self, compositions, pbe_gaps) -> MPGapLookup:
        """Remember each composition's PBE gaps.

        Args:
            compositions: formulas or compositions (polymorphs repeat).
            pbe_gaps: their PBE gaps.

        Returns:
            ``self``.
        """
        frame = pd.DataFrame(
            {"key": [_key_text(c) for c in compositions], "gap": np.asarray(pbe_gaps, float)}
        )
        stats = frame.groupby("key")["gap"].agg(["mean", "min", "count"])
        self.keys_ = stats.index.to_numpy(dtype=str)
        self.values_ = stats.to_numpy(float)
        return self

    def featurize_many(self, compositions) -> np.ndarray:
        """The three columns for many compositions.

        Args:
            compositions: formulas or compositions.

        Returns:
            ``(n, 3)``: mean and lowest PBE gap, polymorphs (NaN, NaN, 0 when MP has none).
        """
        check_is_fitted(self, "keys_")
        index = pd.Index(self.keys_)
        pos = index.get_indexer([_key_text(c) for c in compositions])
        out = np.full((len(pos), 3), np.nan)
        found = pos >= 0
        out[found] = self.values_[pos[found]]
        out[~found, 2] = 0.0
        return out

    def transform(self, compositions) -> np.ndarray:
        """Same as ``featurize_many`` (scikit-learn's transformer shape).

        Args:
            compositions: formulas or compositions.

        Returns:
            ``(n, 3)``.
        """
        return self.featurize_many(compositions)

    def featurize(self, comp) -> list[float]:
        """The columns of one composition, in the order of ``feature_labels``.

        Args:
            comp: a composition or a formula.

        Returns:
            The values.
        """
        return self.featurize_many([comp])[0].tolist()

    def feature_labels(self) -> list[str]:
        return list(LOOKUP_LABELS)

    def citations(self) -> list[str]:
        return PBEReference().citations()

    def implementors(self) -> list[str]:
        return ["bandgaps"]

    def state(self) -> tuple[int, dict[str, bytes]]:
        """Plain data of the lookup: its keys as text and its three columns as numbers
        (``lookup.npz``).

        Returns:
            ``(number of compositions, files)`` for ``bandgaps.models.persist``.
        """
        from bandgaps.models.persist import npz_bytes

        check_is_fitted(self, "keys_")
        arrays = {"keys": np.asarray(self.keys_, dtype=str), "values": self.values_}
        return len(self.keys_), {"lookup.npz": npz_bytes(arrays)}

    @classmethod
    def from_state(cls, count: int, archive) -> MPGapLookup:
        """Rebuild a fitted lookup: a text array of keys and a float array of three columns,
        as many as ``count``.

        Args:
            count: the number of compositions ``state()`` wrote.
            archive: the model file's ``bandgaps.models.persist.Archive``.

        Returns:
            The fitted ``MPGapLookup``.
        """
        arrays = archive.arrays("lookup.npz")
        keys, values = arrays.get("keys"), arrays.get("values")
        if (
            not isinstance(keys, np.ndarray)
            or not isinstance(values, np.ndarray)
            or keys.dtype.kind != "U"
            or keys.ndim != 1
            or values.shape != (len(keys), 3)
            or values.dtype != np.float64
            or len(keys) != count
        ):
            raise archive.refuse("its composition lookup is malformed")
        model = cls()
        model.keys_, model.values_ = keys, values
        return model


def _key_text(comp) -> str:
    return " ".join(f"{el}{amt:g}" for el, amt in composition_key(comp))


class MeasuredGapModel:
    """Formulas → measured band gap: composition features, the PBE reference's two columns and
    a ``GatedGapModel``, fitted together (``fit(compositions, gaps)``).

    ``intervals_`` (an ``IntervalCalibrator``) and ``domain_`` (an ``ApplicabilityDomain``),
    when set, give each prediction a conformal set and a domain flag. They are calibrated on
    held-out predictions the caller supplies (``calibrate``): the study uses the committee's
    out-of-fold predictions of the official folds, whose σ is the members' spread.

    Args:
        reference: a fitted ``PBEReference`` (its two columns join the features).
        feature_set: the composition features.
        model: the gap model (default a ``GatedGapModel``).
        lookup: a fitted ``MPGapLookup`` whose columns join the features, or ``None``.
    """

    quantity = "measured gap"
    intervals_ = None
    domain_ = None

    def __init__(
        self,
        reference: PBEReference,
        feature_set: str = "magpie+fractions",
        model: GatedGapModel | None = None,
        lookup: MPGapLookup | None = None,
    ):
        self.reference = reference
        self.feature_set = feature_set
        self.model = model if model is not None else GatedGapModel(residual_column=None)
        self.lookup = lookup

    def transform(self, compositions) -> np.ndarray:
        """The matrix the gap model reads: composition features, the PBE reference's columns
        and the lookup's.

        Args:
            compositions: formulas or compositions.

        Returns:
            The matrix.
        """
        from bandgaps.features.composition import CompositionFeatures

        F = CompositionFeatures(self.feature_set).transform(list(compositions))
        if self.reference.feature_set == self.feature_set:
            T = self.reference.transform_features(F)
        else:
            T = self.reference.featurize_many(compositions)
        parts = [F, T]
        if self.lookup is not None:
            parts.append(self.lookup.featurize_many(compositions))
        return np.hstack(parts)

    def fit(self, compositions, gaps, metal_compositions=None, is_metal=None):
        """Fit the gap model.

        Args:
            compositions: formulas or compositions.
            gaps: their measured gaps (0 for a metal).
            metal_compositions: extra compositions with only a metal label.
            is_metal: their labels.

        Returns:
            ``self``.
        """
        X = self.transform(compositions)
        Xm = None if metal_compositions is None else self.transform(metal_compositions)
        self.model.fit(X, gaps, Xm, is_metal)
        return self

    def predict_features(self, X: np.ndarray) -> np.ndarray:
        """The measured gap from a matrix of ``transform``.

        Args:
            X: a matrix from ``transform``.

        Returns:
            One gap per row (eV).
        """
        return self.model.predict(X)

    def predict(self, compositions) -> np.ndarray:
        """The measured gap.

        Args:
            compositions: formulas or compositions.

        Returns:
            One gap per composition (eV).
        """
        return self.model.predict(self.transform(compositions))

    def predict_metal_proba(self, compositions) -> np.ndarray:
        """The probability of a metal.

        Args:
            compositions: formulas or compositions.

        Returns:
            One probability per composition.
        """
        return self.predict_metal_proba_features(self.transform(compositions))

    def predict_metal_proba_features(self, X: np.ndarray) -> np.ndarray:
        """The probability of a metal from a matrix of ``transform``.

        Args:
            X: a matrix from ``transform``.

        Returns:
            One probability per row.
        """
        return self.model.predict_metal_proba(X)

    # conformal sets and the domain ------------------------------------------------------
    def predict_band_features(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The band the σ-scaled interval methods read, σ the committee members' spread (0 for
        one model).

        Args:
            X: a matrix from ``transform``.

        Returns:
            ``(gap, gap − σ, gap + σ)``.
        """
        if isinstance(self.model, GatedCommittee):
            gap, spread = self.model.predict(X, return_std=True)
        else:
            gap = self.model.predict(X)
            spread = np.zeros_like(gap)
        return gap, gap - spread, gap + spread

    @property
    def calibrated(self) -> bool:
        return self.intervals_ is not None

    def calibrate(self, compositions, X_train, y, pred, sigma, distance):
        """Fit ``intervals_`` and ``domain_`` from held-out rows.

        Args:
            compositions: the training rows' compositions (the domain's known elements).
            X_train: their ``transform`` (the domain's reference sample).
            y: the held-out rows' targets.
            pred: their predictions.
            sigma: their spread.
            distance: each row's distance to training rows that did not include it.

        Returns:
            ``self``.
        """
        from bandgaps.features.composition import _as_compositions
        from bandgaps.models.domain import ApplicabilityDomain
        from bandgaps.models.intervals import IntervalCalibrator

        y, pred, sigma = (np.asarray(a, float) for a in (y, pred, sigma))
        self.intervals_ = IntervalCalibrator(random_state=SEED).fit(
            y, pred, pred - sigma, pred + sigma
        )
        self.domain_ = (
            ApplicabilityDomain(SEED)
            .fit(X_train, _as_compositions(list(compositions)))
            .calibrate_scores({"distance": distance, "σ": sigma}, np.abs(y - pred))
        )
        return self

    def intervals_features(self, X: np.ndarray, level: float, band=None) -> dict[str, np.ndarray]:
        """The conformal set at ``level``, the lower bound reaching 0 eV where the set holds a
        metal.

        Args:
            X: a matrix from ``transform``.
            level: the coverage.
            band: ``predict_band_features(X)`` when the caller has it already.

        Returns:
            ``{"lower", "upper", "includes_min"}`` (0 eV, a metal, belongs to the set).
        """
        if not self.calibrated:
            raise InputError("This measured-gap model has no calibrated intervals")
        band = self.predict_band_features(X) if band is None else band
        lo, hi, includes = self.intervals_.interval_set(*band, float(level))
        lo = self.intervals_.reach_minimum(np.maximum(lo, 0.0), includes)
        return {"lower": lo, "upper": hi, "includes_min": np.asarray(includes, bool)}

    # model files ------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, bytes]]:
        """Plain data of the whole fitted model: reference, gap model (one or a committee),
        lookup, conformal calibration and domain.

        Returns:
            ``(fields, files)`` for ``bandgaps.models.persist``.
        """
        from bandgaps.models.persist import calibration_state

        reference, files = self.reference.state("ref-")
        committee = isinstance(self.model, GatedCommittee)
        if committee:
            members, member_files = self.model.state()
        else:
            member, member_files = self.model.state("m0-")
            members = [member]
        files.update(member_files)
        fields = {
            "class": type(self).__name__,
            "feature_set": self.feature_set,
            "reference": reference,
            "committee": committee,
            "members": members,
            "n_train": int(self.model.n_train_),
            "lookup": None,
        }
        if self.lookup is not None:
            fields["lookup"], lookup_files = self.lookup.state()
            files.update(lookup_files)
        parts, part_files = calibration_state(self)
        return {**fields, **parts}, {**files, **part_files}

    @classmethod
    def from_state(cls, fields: dict, archive) -> MeasuredGapModel:
        """Rebuild the whole fitted model from ``state()``'s data, each part checked to fit
        the others (feature counts, columns, the domain's width).

        Args:
            fields: the description ``state()`` wrote.
            archive: the model file's ``bandgaps.models.persist.Archive``.

        Returns:
            The fitted ``MeasuredGapModel``.
        """
        from bandgaps.features.composition import CompositionFeatures, get_feature_set
        from bandgaps.models.domain import ApplicabilityDomain
        from bandgaps.models.intervals import IntervalCalibrator

        reference = PBEReference.from_state(fields["reference"], archive)
        feature_set = get_feature_set(fields["feature_set"]).name
        n_comp = len(CompositionFeatures(feature_set, cache=False).feature_labels())
        if reference.gap_model_.n_features_in_ != n_comp:
            raise archive.refuse("its parts do not fit together")
        lookup = MPGapLookup.from_state(fields["lookup"], archive) if fields.get("lookup") else None
        width = n_comp + len(TRANSFER_LABELS) + (0 if lookup is None else len(LOOKUP_LABELS))
        members = fields["members"]
        if fields.get("committee"):
            model = GatedCommittee.from_state(members, archive, width)
        elif isinstance(members, list) and len(members) == 1:
            model = GatedGapModel.from_state(members[0], archive, width)
        else:
            raise archive.refuse("its members are malformed")
        n_train = fields["n_train"]
        if not isinstance(n_train, int) or n_train < 1:
            raise archive.refuse("its row counts are malformed")
        model.n_train_ = n_train
        measured = cls(reference, feature_set, model, lookup)
        measured.intervals_ = archive.part(IntervalCalibrator, fields.get("intervals"), "intervals")
        measured.domain_ = archive.part(ApplicabilityDomain, fields.get("domain"), "domain")
        if measured.domain_ is not None and len(measured.domain_.mean_) != width:
            raise archive.refuse("its parts do not fit together")
        return measured


__all__ = [
    "LARGE_DATA",
    "LOOKUP_LABELS",
    "SMALL_DATA",
    "TRANSFER_LABELS",
    "GatedCommittee",
    "GatedGapModel",
    "MPGapLookup",
    "MeasuredGapModel",
    "MetalClassifier",
    "PBEReference",
    "composition_key",
    "only_elements",
]
