"""Gradient-boosted trees (LightGBM): the stronger composition model, with a quantile σ.

The point prediction averages several boosters (by default two squared-error boosters with
different seeds; on matbench val0 two cut the MAE by about 0.002 eV over one). σ is half the
distance between two quantile boosters at the 15.9 % and 84.1 % levels, the range a
Gaussian's ±1σ spans, so it widens where the data are ambiguous (for band gaps: compositions
with both metallic and insulating polymorphs).

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(300, 3)); y = 2 * X[:, 0] + rng.normal(0, 0.1, 300)
    >>> m = BoostedRegressor(n_estimators=50, num_leaves=7, min_child_samples=5).fit(X, y)
    >>> mean, std = m.predict(X[:2], return_std=True)
    >>> mean.shape, std.shape
    ((2,), (2,))
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

_ONE_SIGMA = NormalDist().cdf(1.0) - 0.5  # 0.3413...


class BoostedRegressor(RegressorMixin, BaseEstimator):
    """Average of LightGBM boosters (one per entry of ``objectives``, each with its own seed).

    Args:
        objectives: one LightGBM loss per point booster (``l2``, ``huber``, …).
        n_estimators: boosting rounds (the upper limit with ``early_stopping``).
        learning_rate: LightGBM's shrinkage.
        num_leaves: leaves per tree.
        min_child_samples: the fewest rows in a leaf.
        subsample: the share of rows each round sees.
        colsample_bytree: the share of features each tree sees.
        clip_min: bounds predictions from below (0 for band gaps).
        sigma: fit the two quantile boosters (15.9 and 84.1 %) that give σ; ``False`` when
            only point predictions are needed (σ is then NaN).
        early_stopping: a share of the training rows (e.g. 0.1) held out; each booster stops
            once its loss there has not improved for 50 rounds, so the number of trees (time,
            file size) follows the data.
        quantile_params: settings of the two quantile boosters only (default: a third of
            ``n_estimators``); a band recalibrated afterwards can come from smaller ones.
        n_jobs: threads (-1: every core); boosters of one model grow side by side.
        random_state: the first booster's seed (the others count up from it).
    """

    def __init__(
        self,
        objectives: tuple[str, ...] = ("l2", "l2"),
        n_estimators: int = 3000,
        learning_rate: float = 0.05,
        num_leaves: int = 127,
        min_child_samples: int = 10,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        clip_min: float | None = None,
        sigma: bool = True,
        early_stopping: float | None = None,
        quantile_params: dict | None = None,
        n_jobs: int = -1,
        random_state: int = 0,
    ):
        self.objectives = objectives
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.clip_min = clip_min
        self.sigma = sigma
        self.early_stopping = early_stopping
        self.quantile_params = quantile_params
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _booster(self, objective: str, seed: int, **extra):
        import lightgbm as lgb

        return lgb.LGBMRegressor(
            objective=objective,
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1,
            colsample_bytree=self.colsample_bytree,
            n_jobs=self.n_jobs,
            random_state=seed,
            verbose=-1,
            **extra,
        )

    def fit(self, X, y):
        """Grow the boosters (side by side where cores allow; the trees do not change).

        Args:
            X: the feature matrix (NaN allowed).
            y: the targets.

        Returns:
            ``self``.
        """
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=True)
        if not self.objectives:
            raise ValueError("objectives must name at least one LightGBM loss")
        fit = self._fitter(X, y)
        seeds = [self._booster(obj, self.random_state + i) for i, obj in enumerate(self.objectives)]
        self.boosters_ = self._fit_side_by_side(fit, seeds)
        self.quantile_boosters_ = []
        if self.sigma:
            # quantile boosters are noisier; fewer, smaller trees are enough for a width
            pair = [
                self._booster("quantile", self.random_state, alpha=q)
                for q in (0.5 - _ONE_SIGMA, 0.5 + _ONE_SIGMA)
            ]
            for b in pair:
                b.set_params(
                    **{
                        "n_estimators": max(1, self.n_estimators // 3),
                        **(self.quantile_params or {}),
                    }
                )
            self.quantile_boosters_ = self._fit_side_by_side(fit, pair)
        return self

    def _fit_side_by_side(self, fit, boosters: list) -> list:
        """Fit ``boosters``, several at once when cores allow: each on its own share of the
        cores (one thread each on two cores) instead of one after another on all of them.

        On a few thousand rows LightGBM's threads spend much of each tree waiting on each other
        (two boosters side by side on two cores take ~25 % less time than one after the other);
        each booster's trees are the same, as its histograms are built feature by feature.
        """
        cores = self._cores()
        side = min(len(boosters), cores)
        threads = cores // side
        for b in boosters:
            # On one thread LightGBM's row-wise and column-wise histograms add the same
            # gradients in the same order (the same trees), and column-wise is ~20 % faster
            # here; left to itself LightGBM times both first and mostly picks row-wise.
            b.set_params(n_jobs=threads, force_col_wise=threads == 1)
        if side < 2:
            fitted = [fit(b) for b in boosters]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(side) as pool:  # LightGBM releases the GIL in its trees
                fitted = list(pool.map(fit, boosters))
        for b in fitted:  # predictions use every core again
            b.set_params(n_jobs=self.n_jobs)
        return fitted

    def _cores(self) -> int:
        """Threads this model may use: ``n_jobs``, or joblib's CPU count for ``-1``/``None``
        (which follows ``LOKY_MAX_CPU_COUNT``, set to 1 in screening workers)."""
        if self.n_jobs is None or self.n_jobs < 0:
            from joblib import cpu_count

            return max(1, cpu_count() + 1 + (self.n_jobs or -1))
        return max(1, int(self.n_jobs))

    def _fitter(self, X, y):
        """``booster -> fitted booster``: on all rows, or with early stopping on held-out rows."""
        if not self.early_stopping:
            return lambda b: b.fit(X, y)
        import lightgbm as lgb

        if not 0 < self.early_stopping < 1:
            raise ValueError("early_stopping must be a fraction between 0 and 1")
        order = np.random.default_rng(self.random_state).permutation(len(y))
        n_val = max(1, round(self.early_stopping * len(y)))
        val, rest = order[:n_val], order[n_val:]
        X_fit, y_fit, X_val, y_val = X[rest], y[rest], X[val], y[val]

        def fit(b):
            # a callback per booster: the early-stopping callback keeps state while it trains
            stop = [lgb.early_stopping(50, verbose=False)]
            return b.fit(X_fit, y_fit, eval_X=(X_val,), eval_y=(y_val,), callbacks=stop)

        return fit

    def _clip(self, values: np.ndarray) -> np.ndarray:
        return values if self.clip_min is None else np.maximum(values, self.clip_min)

    def trees(self) -> list[int]:
        """Trees each point booster kept: early stopping's best round, or all of them."""
        check_is_fitted(self, "boosters_")
        return [int(b.best_iteration_ or b.n_estimators) for b in self.boosters_]

    def predict(self, X, return_std: bool = False):
        """The boosters' mean prediction, and σ as half the 15.9–84.1 % quantile range.

        Args:
            X: the feature matrix.
            return_std: also return σ.

        Returns:
            The predictions, or ``(predictions, σ)``.
        """
        check_is_fitted(self, "boosters_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        if not return_std:
            return self._clip(np.mean([b.predict(X) for b in self.boosters_], axis=0))
        mean, lo, hi = self.predict_band(X)  # NaN band when fitted with sigma=False
        return mean, (hi - lo) / 2

    def predict_band(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The prediction and its quantile band (NaN without σ).

        Args:
            X: the feature matrix.

        Returns:
            ``(mean, q15.9, q84.1)``.
        """
        check_is_fitted(self, "boosters_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        mean = self._clip(np.mean([b.predict(X) for b in self.boosters_], axis=0))
        if not self.quantile_boosters_:
            nan = np.full_like(mean, np.nan)
            return mean, nan, nan
        lo, hi = (self._clip(b.predict(X)) for b in self.quantile_boosters_)
        return mean, np.minimum(lo, hi), np.maximum(lo, hi)

    # model files ---------------------------------------------------------------------------
    def state(self, prefix: str = "") -> tuple[dict, dict[str, bytes]]:
        """The fitted boosters as plain data: the parameters, and each booster as LightGBM's
        own text model (``<prefix>booster-point-0.txt``, …).

        Args:
            prefix: names this regressor's members where one file holds several.

        Returns:
            ``(fields, files)`` for ``bandgaps.models.persist``.
        """
        from bandgaps.models.persist import jsonable

        check_is_fitted(self, "boosters_")
        files = {}
        for group, boosters in (("point", self.boosters_), ("quantile", self.quantile_boosters_)):
            for k, b in enumerate(boosters):
                booster = getattr(b, "booster_", b)
                files[f"{prefix}booster-{group}-{k}.txt"] = booster.model_to_string().encode()
        fields = {
            "class": type(self).__name__,
            "params": jsonable(self.get_params()),
            "n_features_in": int(self.n_features_in_),
            "prefix": prefix,
            "boosters": {"point": len(self.boosters_), "quantile": len(self.quantile_boosters_)},
        }
        return fields, files

    @classmethod
    def from_state(cls, fields: dict, archive) -> BoostedRegressor:
        """Rebuild the fitted boosters from ``state()``'s data; LightGBM parses only text
        rebuilt from checked fields (``archive.booster``).

        Args:
            fields: the description ``state()`` wrote.
            archive: the model file's ``bandgaps.models.persist.Archive``.

        Returns:
            The fitted ``BoostedRegressor``.
        """
        from bandgaps.models.persist import MAX_BOOSTERS

        n_features = archive.feature_count(fields)
        params = dict(fields.get("params", {}))
        params["objectives"] = tuple(params.get("objectives", ()))
        prefix = fields.get("prefix", "")
        if not isinstance(prefix, str) or (prefix and not prefix.replace("-", "").isalnum()):
            raise archive.refuse("a booster name is malformed")
        model = cls(**params)
        counts = fields.get("boosters", {})
        if not isinstance(counts, dict) or not all(
            isinstance(counts.get(g, 0), int) and 0 <= counts.get(g, 0) <= MAX_BOOSTERS
            for g in ("point", "quantile")
        ):
            raise archive.refuse("its booster counts are malformed")
        point, quantile = (
            [
                archive.booster(f"{prefix}booster-{group}-{k}.txt", n_features)
                for k in range(counts.get(group, 0))
            ]
            for group in ("point", "quantile")
        )
        if not point or any(b.num_feature() != n_features for b in point + quantile):
            raise archive.refuse("its boosters do not match")
        model.boosters_, model.quantile_boosters_ = point, quantile
        model.n_features_in_ = n_features
        return model

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
