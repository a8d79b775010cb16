"""Random forest whose σ per prediction comes from the trees (law of total variance).

Each tree's leaf holds the (bootstrap-weighted) training targets that fell into it; the forest
prediction is a mixture of those leaves. Its variance is the mean of the leaf variances plus
the variance of the leaf means — the reference solution's uncertainty.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(200, 3)); y = 2 * X[:, 0] + rng.normal(0, 0.1, 200)
    >>> rf = UncertainForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    >>> mean, std = rf.predict(X[:3], return_std=True)
    >>> mean.shape, bool((std > 0).all())
    ((3,), True)
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.utils.validation import check_is_fitted, validate_data


class UncertainForestRegressor(RegressorMixin, BaseEstimator):
    """``RandomForestRegressor(criterion="squared_error")`` with ``predict(X, return_std=True)``.

    Args:
        n_estimators: trees.
        max_features: features tried per split (a fraction, a count or a rule).
        min_samples_leaf: the fewest rows in a leaf.
        max_depth: the deepest a tree grows (``None``: until its leaves are pure).
        max_samples: the share of rows in each tree's bootstrap (``None``: all).
        n_jobs: threads (-1: every core).
        random_state: fixed by default, so that a rebuild gives the same numbers.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_features: float | str | None = 1 / 3,
        min_samples_leaf: int = 1,
        max_depth: int | None = None,
        max_samples: float | None = None,
        n_jobs: int | None = -1,
        random_state: int | None = 0,
    ):
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.max_samples = max_samples
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        """Grow the forest.

        Args:
            X: the feature matrix (NaN allowed).
            y: the targets.
            sample_weight: a weight per row.

        Returns:
            ``self``.
        """
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=True)
        self.forest_ = RandomForestRegressor(
            criterion="squared_error",
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            max_depth=self.max_depth,
            max_samples=self.max_samples,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        ).fit(X, y, sample_weight=sample_weight)
        return self

    def _leaf_moments(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Per-tree leaf means and leaf variances, each ``(n_samples, n_trees)``."""
        leaves = self.forest_.apply(X)
        trees = [est.tree_ for est in self.forest_.estimators_]
        means = np.column_stack([t.value[leaves[:, i], 0, 0] for i, t in enumerate(trees)])
        variances = np.column_stack([t.impurity[leaves[:, i]] for i, t in enumerate(trees)])
        return means, variances

    def predict(self, X, return_std: bool = False):
        """The forest's mean prediction, and σ from the law of total variance.

        Args:
            X: the feature matrix.
            return_std: also return σ (the trees' spread and their leaves' variances).

        Returns:
            The predictions, or ``(predictions, σ)``.
        """
        check_is_fitted(self, "forest_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        if not return_std:
            return self.forest_.predict(X)
        means, variances = self._leaf_moments(X.astype(np.float32))
        mean = means.mean(axis=1)
        std = np.sqrt(np.maximum(variances.mean(axis=1) + means.var(axis=1), 0.0))
        return mean, std

    # model files ---------------------------------------------------------------------------
    def state(self, prefix: str = "") -> tuple[dict, dict[str, bytes]]:
        """The fitted forest as plain data: its parameters, and every tree's node records and
        leaf values as arrays of ``forest.npz`` (one forest per model file: no prefix).

        Args:
            prefix: unused (a forest's member is always ``forest.npz``).

        Returns:
            ``(fields, files)`` for ``bandgaps.models.persist``.
        """
        from bandgaps.models.persist import jsonable, npz_bytes

        check_is_fitted(self, "forest_")
        arrays = {}
        for i, tree in enumerate(self.forest_.estimators_):
            state = tree.tree_.__getstate__()
            arrays[f"nodes_{i}"] = state["nodes"]
            arrays[f"values_{i}"] = state["values"]
            arrays[f"max_depth_{i}"] = np.asarray(state["max_depth"])
            arrays[f"max_features_{i}"] = np.asarray(tree.max_features_)
        fields = {
            "class": type(self).__name__,
            "params": jsonable(self.get_params()),
            "n_features_in": int(self.n_features_in_),
            "trees": len(self.forest_.estimators_),
        }
        return fields, {"forest.npz": npz_bytes(arrays)}

    @classmethod
    def from_state(cls, fields: dict, archive, rows: int | None = None):
        """Rebuild a fitted forest from ``state()``'s data, every tree checked by the archive.

        Args:
            fields: the description ``state()`` wrote.
            archive: the model file's ``bandgaps.models.persist.Archive``.
            rows: the training rows, where known: they bound what ``forest.npz`` may unpack
                to (``persist.forest_bytes``), checked before it is inflated.

        Returns:
            The fitted ``UncertainForestRegressor``.
        """
        from sklearn.tree import DecisionTreeRegressor

        from bandgaps.models.lgbm_text import MAX_TREES
        from bandgaps.models.persist import forest_bytes

        n_features = archive.feature_count(fields)
        model = cls(**fields.get("params", {}))
        trees = fields.get("trees")
        if not isinstance(trees, int) or not 0 < trees <= MAX_TREES:
            raise archive.refuse("its tree count is malformed")
        declared = archive.declared_size("forest.npz")
        if rows is not None and declared > forest_bytes(trees, rows):
            raise archive.refuse(
                f"forest.npz would unpack to {declared:,} bytes, more than {trees:,} trees "
                f"grown on {rows:,} rows can need ({forest_bytes(trees, rows):,})"
            )
        arrays = archive.arrays("forest.npz")
        estimators = []
        try:
            for i in range(trees):
                est = DecisionTreeRegressor()
                est.tree_ = archive.tree(
                    arrays.get(f"nodes_{i}"),
                    arrays.get(f"values_{i}"),
                    arrays.get(f"max_depth_{i}"),
                    n_features,
                )
                est.n_features_in_ = n_features
                est.n_outputs_ = 1
                est.max_features_ = int(arrays[f"max_features_{i}"])
                estimators.append(est)
        except Exception as exc:  # a missing array or one of the wrong kind
            raise archive.unreadable("forest", exc) from None
        forest = RandomForestRegressor(n_estimators=trees)
        forest.estimators_ = estimators
        forest.estimator_ = DecisionTreeRegressor()
        forest.n_features_in_ = n_features
        forest.n_outputs_ = 1
        model.forest_ = forest
        model.n_features_in_ = n_features
        return model

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
