"""Composition features: matminer's featurizers, computed for many formulas at once.

A *feature set* is a named list of matminer featurizers. ``CompositionFeatures`` exposes
it in matminer's shape (``featurize``, ``feature_labels``, ``citations``) and as a
scikit-learn transformer. Rather than calling each featurizer once per formula (about 250
formulas/s on two cores), it reads matminer's own element tables once and evaluates the same
statistics for all formulas with numpy; a test checks the result against matminer itself.

Examples:
    >>> from pymatgen.core import Composition
    >>> feats = CompositionFeatures("magpie")
    >>> len(feats.feature_labels())
    145
    >>> row = feats.featurize(Composition("GaAs"))
    >>> dict(zip(feats.feature_labels(), row))["MagpieData mean Number"]
    32.0
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Element
from sklearn.base import BaseEstimator, TransformerMixin

from bandgaps.cache import Stage
from bandgaps.data.formulas import parse_formula
from bandgaps.errors import InputError

_FEATURES = Stage("features", __name__)

#: Feature matrices a caller has declared inside ``known_features``: (feature set, row of each
#: formula, matrix), newest first.
_KNOWN: list[tuple[str, dict[str, int], np.ndarray]] = []


@contextlib.contextmanager
def known_features(feature_set: str, formulas: Sequence[str], matrix: np.ndarray):
    """Within the block, ``CompositionFeatures.transform`` reads rows of ``matrix`` (the
    features of ``formulas``) for any formula list it holds instead of computing them again.

    A study that fits many subsets of one table (folds, their calibration rows, held-out
    families) computes the table's features once: a formula's features depend on the formula
    alone, so the rows read are the rows a computation would give.

    Args:
        feature_set: the feature set ``matrix`` was computed with.
        formulas: the table's formulas.
        matrix: their features, one row each.

    Yields:
        Nothing: the rows are known within the ``with`` block.
    """
    matrix = np.asarray(matrix)
    if matrix.shape[0] != len(formulas):
        raise ValueError(f"{len(formulas)} formulas but {matrix.shape[0]} feature rows")
    entry = (get_feature_set(feature_set).name, {str(f): i for i, f in enumerate(formulas)}, matrix)
    _KNOWN.insert(0, entry)
    try:
        yield
    finally:
        _KNOWN.remove(entry)


#: Highest atomic number the element tables cover (Lr); heavier elements have no data.
MAX_Z = 103


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned recipe of matminer composition featurizers.

    Attributes:
        name: what models and the CLI call it.
        description: one line.
        recipe: ``(featurizer class name, keyword arguments)`` pairs, in column order.
        version: bumped when the recipe's output changes.
    """

    name: str
    description: str
    #: ``(featurizer class name, keyword arguments)`` pairs, in column order.
    recipe: tuple[tuple[str, dict], ...] = field(default_factory=tuple)
    version: int = 1

    def featurizers(self) -> list:
        """Fresh matminer featurizer objects for this recipe."""
        with warnings.catch_warnings():
            # matminer imports tqdm.auto, which warns inside Jupyter without ipywidgets
            warnings.filterwarnings("ignore", message="IProgress not found")
            from matminer.featurizers import composition as mc

        out = []
        for cls_name, kwargs in self.recipe:
            cls = getattr(mc, cls_name)
            if cls_name == "ElementProperty" and "preset" in kwargs:
                out.append(cls.from_preset(kwargs["preset"]))
            else:
                out.append(cls(**kwargs))
        return out

    def config(self) -> dict:
        """What identifies the features this set produces (used in cache keys and model files)."""
        import matminer

        return {
            "name": self.name,
            "version": self.version,
            "recipe": [[c, k] for c, k in self.recipe],
            "matminer": matminer.__version__,
        }


#: Ward et al.'s set as the reference solution configured it.
_MAGPIE_RECIPE = (
    ("Stoichiometry", {}),
    ("ElementProperty", {"preset": "magpie"}),
    ("ValenceOrbital", {"props": ["avg"]}),
    ("IonProperty", {"fast": True}),
)

FEATURE_SETS: dict[str, FeatureSet] = {
    "magpie": FeatureSet(
        name="magpie",
        description=(
            "Ward et al. (2016) general-purpose set as the reference solution used it: "
            "Stoichiometry, Magpie element-property statistics, average valence-orbital "
            "occupations, ionic character"
        ),
        recipe=_MAGPIE_RECIPE,
    ),
    "magpie+fractions": FeatureSet(
        name="magpie+fractions",
        description=(
            "the magpie set plus the atomic fraction of each element (H–Lr), which lets tree "
            "models tell apart compositions whose averaged properties coincide"
        ),
        recipe=(*_MAGPIE_RECIPE, ("ElementFraction", {})),
    ),
    "kspacing-study": FeatureSet(
        name="kspacing-study",
        description=(
            "the k-spacing study's random-forest features: Stoichiometry, Magpie element-property "
            "statistics and valence-orbital occupations (average and fraction)"
        ),
        recipe=(
            ("Stoichiometry", {}),
            ("ElementProperty", {"preset": "magpie"}),
            ("ValenceOrbital", {}),
        ),
    ),
}


def get_feature_set(name: str | FeatureSet) -> FeatureSet:
    """Look up a feature set by name.

    Args:
        name: its name (or a ``FeatureSet``, returned as it is).

    Returns:
        The ``FeatureSet``.

    Raises:
        InputError: an unknown name, with the known ones.
    """
    if isinstance(name, FeatureSet):
        return name
    try:
        return FEATURE_SETS[name]
    except KeyError:
        known = ", ".join(sorted(FEATURE_SETS))
        raise InputError(f"Unknown feature set {name!r}; known sets: {known}") from None


# ----------------------------------------------------------------------------------------------
# Element tables read from matminer's data sources, and the vectorised statistics.


def _element_table(data_source, props: Sequence[str]) -> np.ndarray:
    """``(MAX_Z + 1, len(props))`` array of element properties; row 0 and gaps are NaN."""
    table = np.full((MAX_Z + 1, len(props)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, MAX_Z + 1):
            el = Element.from_Z(z)
            for j, prop in enumerate(props):
                # elements a source does not tabulate stay NaN
                with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
                    table[z, j] = float(data_source.get_elemental_property(el, prop))
    return table


@dataclass
class _Batch:
    """Compositions as padded arrays: atomic numbers ``z``, amounts ``amt``, fractions ``w``."""

    z: np.ndarray  # (n, k) int, 0 = padding
    amt: np.ndarray  # (n, k) float, 0 = padding
    mask: np.ndarray  # (n, k) bool

    @cached_property
    def w(self) -> np.ndarray:
        return self.amt / self.amt.sum(axis=1, keepdims=True)

    @classmethod
    def from_compositions(cls, comps: Sequence[Composition]) -> _Batch:
        k = max((len(c) for c in comps), default=1)
        z = np.zeros((len(comps), k), dtype=np.int64)
        amt = np.zeros((len(comps), k))
        for i, comp in enumerate(comps):
            for j, (el, a) in enumerate(comp.element_composition.items()):
                z[i, j] = el.Z
                amt[i, j] = a
        return cls(z=z, amt=amt, mask=amt > 0)


def _stats(values: np.ndarray, batch: _Batch, stats: Sequence[str]) -> np.ndarray:
    """matminer ``PropertyStats`` for each property: values ``(n, k, p)`` → ``(n, p * len)``."""
    w = batch.w[..., None]
    m = batch.mask[..., None]
    vals = np.where(m, values, 0.0)
    mean = (w * vals).sum(axis=1)
    out = {}
    lo = np.where(m, values, np.inf).min(axis=1)
    hi = np.where(m, values, -np.inf).max(axis=1)
    for stat in stats:
        if stat == "minimum":
            out[stat] = lo
        elif stat == "maximum":
            out[stat] = hi
        elif stat == "range":
            out[stat] = hi - lo
        elif stat == "mean":
            out[stat] = mean
        elif stat == "avg_dev":
            out[stat] = (w * np.abs(vals - mean[:, None, :]) * m).sum(axis=1)
        elif stat == "std_dev":
            # matminer's unbiased estimator with the raw amounts as reliability weights
            a = batch.amt
            tot = a.sum(axis=1)
            beta = tot / (tot**2 - (a**2).sum(axis=1))
            dev2 = (a[..., None] * (vals - mean[:, None, :]) ** 2 * m).sum(axis=1)
            single = batch.mask.sum(axis=1) == 1
            with np.errstate(divide="ignore", invalid="ignore"):
                sd = np.sqrt(beta[:, None] * dev2)
            out[stat] = np.where(single[:, None], 0.0, sd)
        elif stat == "mode":
            # the value of the most abundant element; ties go to the smallest value
            wmax = batch.amt.max(axis=1, keepdims=True)
            top = np.isclose(batch.amt, wmax) & batch.mask
            out[stat] = np.where(top[..., None], values, np.inf).min(axis=1)
        else:
            raise NotImplementedError(stat)
    # matminer orders by property, then statistic
    return np.stack([out[s] for s in stats], axis=2).reshape(len(values), -1)


class _Block:
    """One matminer featurizer evaluated for a whole batch."""

    def __init__(self, featurizer):
        self.featurizer = featurizer

    def labels(self) -> list[str]:
        return list(self.featurizer.feature_labels())

    def __call__(self, batch: _Batch, comps: Sequence[Composition]) -> np.ndarray:
        # fallback: matminer itself, one composition at a time
        return np.array([self.featurizer.featurize(c) for c in comps], dtype=float)


class _StoichiometryBlock(_Block):
    def __call__(self, batch, comps):
        f = self.featurizer
        if f.num_atoms:
            return super().__call__(batch, comps)
        cols = []
        for p in f.p_list:
            if p == 0:
                cols.append(batch.mask.sum(axis=1).astype(float))
            else:
                cols.append(((batch.w**p) * batch.mask).sum(axis=1) ** (1.0 / p))
        return np.stack(cols, axis=1)


class _ElementPropertyBlock(_Block):
    @cached_property
    def table(self) -> np.ndarray:
        return _element_table(self.featurizer.data_source, self.featurizer.features)

    def __call__(self, batch, comps):
        return _stats(self.table[batch.z], batch, self.featurizer.stats)


class _ValenceOrbitalBlock(_Block):
    @cached_property
    def table(self) -> np.ndarray:
        props = [f"N{o}Valence" for o in self.featurizer.orbitals] + ["NValence"]
        return _element_table(self.featurizer.data_source, props)

    def __call__(self, batch, comps):
        vals = self.table[batch.z]
        mean = (batch.w[..., None] * np.where(batch.mask[..., None], vals, 0)).sum(axis=1)
        avg, total = mean[:, :-1], mean[:, -1:]
        parts = {"avg": avg, "frac": avg / total}
        return np.concatenate([parts[p] for p in self.featurizer.props], axis=1)


class _IonPropertyBlock(_Block):
    @cached_property
    def electronegativity(self) -> np.ndarray:
        return _element_table(self.featurizer.data_source, ["X"])[:, 0]

    @cached_property
    def _oxidation_states(self) -> dict[int, tuple]:
        src = self.featurizer.data_source
        return {z: tuple(src.get_oxidation_states(Element.from_Z(z))) for z in range(1, MAX_Z + 1)}

    def _neutral_possible(self, zs: tuple, amts: tuple) -> bool:
        # matminer's test is np.isclose(charge, 0), i.e. |charge| <= 1e-8; plain floats here
        # (a numpy call per combination made this block half the cost of all features)
        states = [self._oxidation_states[z] for z in zs]
        return any(
            abs(sum(map(operator.mul, ox, amts))) <= 1e-8 for ox in itertools.product(*states)
        )

    def __call__(self, batch, comps):
        if not self.featurizer.fast:
            return super().__call__(batch, comps)
        n = len(comps)
        x = self.electronegativity[batch.z]
        diff = x[:, :, None] - x[:, None, :]
        ic = 1.0 - np.exp(-0.25 * diff**2)
        k = batch.z.shape[1]
        upper = np.triu(np.ones((k, k), dtype=bool), 1)
        pair = batch.mask[:, :, None] & batch.mask[:, None, :] & upper
        max_ic = np.where(pair, ic, -np.inf).max(axis=(1, 2)) if k > 1 else np.zeros(n)
        avg_ic = (batch.w[:, :, None] * batch.w[:, None, :] * np.where(pair, ic, 0)).sum((1, 2))
        possible = np.ones(n)
        memo: dict[tuple, bool] = {}
        nel = batch.mask.sum(axis=1)
        for i in range(n):
            if nel[i] < 2:
                max_ic[i] = avg_ic[i] = 0.0
                continue
            zs = tuple(batch.z[i, : nel[i]])
            amts = tuple(batch.amt[i, : nel[i]])
            key = (zs, amts)
            if key not in memo:
                memo[key] = self._neutral_possible(zs, amts)
            possible[i] = float(memo[key])
        return np.stack([possible, max_ic, avg_ic], axis=1)


class _ElementFractionBlock(_Block):
    def __call__(self, batch, comps):
        out = np.zeros((len(comps), len(self.labels()) + 1))
        rows = np.repeat(np.arange(len(comps)), batch.z.shape[1])
        np.add.at(out, (rows, batch.z.ravel()), (batch.w * batch.mask).ravel())
        return out[:, 1:]


_BLOCKS = {
    "Stoichiometry": _StoichiometryBlock,
    "ElementProperty": _ElementPropertyBlock,
    "ValenceOrbital": _ValenceOrbitalBlock,
    "IonProperty": _IonPropertyBlock,
    "ElementFraction": _ElementFractionBlock,
}


# ----------------------------------------------------------------------------------------------


def _as_compositions(items: Sequence, index: Sequence | None = None) -> list[Composition]:
    """Formulas or compositions → compositions of real elements with data, or one clear error."""
    index = list(index) if index is not None else list(range(len(items)))
    memo: dict[str, Composition] = {}
    comps = []
    for row, item in zip(index, items, strict=True):
        if isinstance(item, Composition):
            comp = item
            label = comp.formula
        else:
            comp = memo.get(item) if isinstance(item, str) else None
            if comp is None:
                comp = parse_formula(item, row=row)
                memo[item] = comp
            label = item
        check_element_data(comp, label, row)
        comps.append(comp)
    return comps


def check_element_data(comp: Composition, label: object, row: object) -> Composition:
    """``comp`` when every element has tabulated data (H–Lr), else one clear error.

    Args:
        comp: the composition.
        label: how the error names it (its formula).
        row: where it came from (a row number).

    Returns:
        ``comp``.

    Raises:
        InputError: an element without tabulated data.
    """
    for el in comp.elements:
        z = getattr(el, "Z", None)
        if z is None or z > MAX_Z:
            raise InputError(
                f"Cannot featurize formula {label!r} (row {row}): "
                f"element {el} has no tabulated element data (only H–Lr)"
            )
    return comp


_BLOCK_CACHE: dict[tuple, list] = {}


def _shared_blocks(fs: FeatureSet) -> list[_Block]:
    """The evaluated featurizers of ``fs``, built once per process: matminer's data sources
    take about 0.25 s to construct (a loop over every element), which was most of the time of
    a ``bandgaps predict`` call. The blocks hold only read-only element tables."""
    key = (fs.name, fs.version, repr(fs.recipe))
    if key not in _BLOCK_CACHE:
        _BLOCK_CACHE[key] = [_BLOCKS.get(type(f).__name__, _Block)(f) for f in fs.featurizers()]
    return _BLOCK_CACHE[key]


class CompositionFeatures(BaseEstimator, TransformerMixin):
    """A named composition feature set, as a matminer-style featurizer and sklearn transformer.

    ``transform`` accepts formulas (``str``) or ``Composition`` objects and returns one column
    per feature.

    Args:
        feature_set: ``magpie``, ``magpie+fractions`` or another of ``FEATURE_SETS``.
        cache: store the matrix of a list of formulas in the result cache, keyed by the
            formulas and the feature set's configuration.
        chunk_size: compositions featurized per vectorised chunk.
    """

    def __init__(self, feature_set: str = "magpie", cache: bool = True, chunk_size: int = 4096):
        self.feature_set = feature_set
        self.cache = cache
        self.chunk_size = chunk_size

    # matminer's shape ---------------------------------------------------------------------
    @cached_property
    def _blocks(self) -> list[_Block]:
        return _shared_blocks(get_feature_set(self.feature_set))

    def featurize(self, comp: Composition | str) -> list[float]:
        """Features of one composition, in the order of ``feature_labels``.

        Args:
            comp: a ``Composition`` or a formula.

        Returns:
            The features.
        """
        return self.featurize_many([comp])[0].tolist()

    def featurize_many(self, comps: Sequence, index: Sequence | None = None) -> np.ndarray:
        """Feature matrix computed in vectorised chunks.

        Args:
            comps: compositions or formulas.
            index: the rows' names in errors (default 1, 2, …).

        Returns:
            An array ``(len(comps), n_features)``.
        """
        from tqdm import tqdm

        from bandgaps.config import progress_enabled

        comps = list(comps)
        index = list(index) if index is not None else list(range(len(comps)))
        n_feat = len(self.feature_labels())
        out = np.empty((len(comps), n_feat))
        starts = range(0, len(comps), self.chunk_size)
        bar = tqdm(
            total=len(comps),
            desc=f"features [{get_feature_set(self.feature_set).name}]",
            unit="formula",
            disable=not progress_enabled() or len(comps) < 2 * self.chunk_size,
        )
        with bar:
            for s in starts:
                chunk = _as_compositions(
                    comps[s : s + self.chunk_size], index[s : s + self.chunk_size]
                )
                batch = _Batch.from_compositions(chunk)
                out[s : s + len(chunk)] = np.concatenate(
                    [blk(batch, chunk) for blk in self._blocks], axis=1
                )
                bar.update(len(chunk))
        return out

    def feature_labels(self) -> list[str]:
        """Column names, matching matminer's labels for the same featurizers."""
        return [label for blk in self._blocks for label in blk.labels()]

    def citations(self) -> list[str]:
        """BibTeX entries of the underlying featurizers (deduplicated)."""
        seen: dict[str, None] = {}
        for blk in self._blocks:
            for c in blk.featurizer.citations():
                seen.setdefault(c, None)
        return list(seen)

    def implementors(self) -> list[str]:
        return ["bandgaps (vectorised evaluation of matminer featurizers)"]

    # scikit-learn's shape -----------------------------------------------------------------
    def fit(self, X=None, y=None):
        """Nothing to learn; present so the transformer composes in a pipeline.

        Args:
            X: ignored.
            y: ignored.

        Returns:
            ``self``.
        """
        self.feature_names_out_ = np.array(self.feature_labels(), dtype=object)
        return self

    def get_feature_names_out(self, input_features=None):
        """The features' names, as scikit-learn asks for them.

        Args:
            input_features: ignored (the features come from compositions).

        Returns:
            The labels, as an object array.
        """
        return np.array(self.feature_labels(), dtype=object)

    def transform(self, X) -> np.ndarray:
        """Feature matrix for formulas or compositions.

        A plain array, so the regressors downstream are fitted without column names;
        ``set_output(transform="pandas")`` or ``featurize`` give a labelled frame.

        Args:
            X: a sequence, a Series or a one-column frame of formulas or compositions.

        Returns:
            The feature matrix.
        """
        items, index = _items(X)
        with warnings.catch_warnings():
            # pymatgen orders a formula by electronegativity and warns of the noble gases it
            # has none for; the formula is still right (the features hold NaN for them)
            warnings.filterwarnings("ignore", message="No Pauling electronegativity")
            keys = [c.formula if isinstance(c, Composition) else c for c in items]
        name = get_feature_set(self.feature_set).name
        for known_set, rows, matrix in _KNOWN:
            if known_set == name and all(isinstance(k, str) and k in rows for k in keys):
                return matrix[[rows[k] for k in keys]]

        def compute() -> np.ndarray:
            return self.featurize_many(items, index=index)

        if self.cache and all(isinstance(k, str) for k in keys):
            import hashlib

            digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()
            fs = get_feature_set(self.feature_set)
            matrix = _FEATURES({"formulas": digest, "n": len(keys), "set": fs.config()}, compute)
        else:
            matrix = compute()
        return matrix


def _items(X) -> tuple[list, list]:
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            col = "formula" if "formula" in X else "composition" if "composition" in X else None
            if col is None:
                raise InputError("Expected one column of formulas (or a 'formula' column)")
            X = X[col]
        else:
            X = X.iloc[:, 0]
    if isinstance(X, pd.Series):
        return list(X), list(X.index)
    if isinstance(X, str | Composition):
        X = [X]
    items = list(X.ravel()) if isinstance(X, np.ndarray) else list(X)
    return items, list(range(len(items)))


def featurize(formulas, feature_set: str = "magpie", cache: bool = True) -> pd.DataFrame:
    """Feature frame for formulas or compositions (cached on disk).

    Args:
        formulas: formulas or compositions.
        feature_set: the feature set's name.
        cache: use the result cache.

    Returns:
        A frame with one labelled column per feature.

    Examples:
        >>> featurize(["Si", "GaAs"]).shape
        (2, 145)
    """
    feats = CompositionFeatures(feature_set, cache=cache)
    index = formulas.index if isinstance(formulas, pd.Series | pd.DataFrame) else None
    return pd.DataFrame(feats.transform(formulas), columns=feats.feature_labels(), index=index)
