"""Composition models: a feature set and a regressor in one scikit-learn pipeline.

A model takes formulas (or ``Composition`` objects) and predicts any
composition-level target — band gaps, k-point lengths, formation energies. ``predict(X,
return_std=True)`` passes through the pipeline to the regressor.

Examples:
    >>> model = make_model("rf", n_estimators=10)
    >>> model = model.fit(["Si", "Ge", "GaAs", "NaCl"], [1.1, 0.7, 1.4, 8.5])
    >>> mean, std = model.predict(["SiGe"], return_std=True)
    >>> mean.shape, std.shape
    ((1,), (1,))
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from sklearn.pipeline import Pipeline

from bandgaps.errors import OptionError
from bandgaps.features.composition import CompositionFeatures, get_feature_set


@dataclass(frozen=True)
class ModelSpec:
    """A named composition model: its default feature set and where its regressor class lives.

    The class is imported only when a model of this kind is built, so the code of a cached fit
    (``bandgaps.cache``) is that of the kind it fits: a random forest's results do not depend
    on the booster's module.

    Attributes:
        name: ``rf`` or ``lgbm``.
        description: one line.
        feature_set: its default feature set.
        module: where the regressor class lives.
        class_name: the regressor class's name.
    """

    name: str
    description: str
    feature_set: str
    module: str
    class_name: str

    @property
    def factory(self) -> type:
        """The regressor class."""
        return getattr(importlib.import_module(self.module), self.class_name)


MODELS: dict[str, ModelSpec] = {
    "rf": ModelSpec(
        "rf",
        "random forest on Magpie features, σ from the trees (law of total variance)",
        "magpie",
        "bandgaps.models.forest",
        "UncertainForestRegressor",
    ),
    "lgbm": ModelSpec(
        "lgbm",
        "LightGBM (two squared-error boosters averaged) on Magpie features plus element "
        "fractions; σ from 15.9/84.1 % quantile boosters",
        "magpie+fractions",
        "bandgaps.models.boosting",
        "BoostedRegressor",
    ),
}


def get_spec(kind: str) -> ModelSpec:
    """The composition model called ``kind``.

    Args:
        kind: ``rf`` or ``lgbm``.

    Returns:
        Its ``ModelSpec``.

    Raises:
        OptionError: an unknown kind, with the known ones.
    """
    try:
        return MODELS[kind]
    except KeyError:
        raise OptionError(f"Unknown model {kind!r}; choose one of {', '.join(MODELS)}") from None


def make_model(
    kind: str = "rf", feature_set: str | None = None, cache: bool = True, **params
) -> Pipeline:
    """Unfitted pipeline ``features → regressor``.

    Args:
        kind: ``rf`` or ``lgbm``.
        feature_set: the composition features (default the kind's own).
        cache: cache the features in the result cache.
        **params: the regressor's parameters.

    Returns:
        A scikit-learn ``Pipeline``.
    """
    spec = get_spec(kind)
    fs = get_feature_set(feature_set or spec.feature_set).name
    return Pipeline(
        [
            ("features", CompositionFeatures(fs, cache=cache)),
            ("regressor", spec.factory(**params)),
        ]
    )
