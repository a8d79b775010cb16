"""Domain of applicability: does a formula look like what the model was trained on?

Two candidate scores are measured on the calibration rows (held out from training), and the
one whose rank correlation with the absolute error is higher becomes the model's score:

* ``distance`` — mean Euclidean distance to the 5 nearest training rows in standardized
  feature space (a reference sample of at most ``MAX_REFERENCE`` training rows);
* ``σ`` — the model's own spread (its ±1σ half-width).

A prediction is **outside the domain** when its formula holds an element no training row had,
when it has fewer or more elements than any training row (an element, when every training row
is a compound), or when its score is above the 99th percentile of the calibration rows'
scores. The score is reported as that percentile (0–100), so "97" reads "less familiar than
97 % of held-out rows".

Examples:
    >>> from pymatgen.core import Composition
    >>> rng = np.random.default_rng(0)
    >>> F = rng.normal(size=(200, 3))
    >>> dom = ApplicabilityDomain().fit(F[:150], [Composition("NaCl")] * 150)
    >>> dom = dom.calibrate(F[150:], np.abs(F[150:, 0]), np.abs(F[150:, 0]))
    >>> out = dom.assess(F[:2], [Composition("NaCl"), Composition("KCl")], np.ones(2))
    >>> out["unseen elements"], list(out["in domain"])
    (['', 'K'], [True, False])
    >>> bool(dom.assess(F[:1], [Composition("Na")], np.ones(1))["in domain"][0])  # an element
    False
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from bandgaps.errors import InputError

#: Most training rows kept as the distance reference (a model file carries them).
MAX_REFERENCE = 2000
#: Neighbours averaged in the distance score.
N_NEIGHBORS = 5
#: Calibration percentile above which a prediction is flagged.
FLAG_PERCENTILE = 99.0
SCORES = ("distance", "σ")
#: Standardized features are bounded by this (far beyond any training row's).
_MAX_Z = 1e6


class ApplicabilityDomain:
    """Training elements, a standardized reference sample, and the calibrated score.

    Args:
        random_state: seeds the reference sample.
    """

    def __init__(self, random_state: int = 0):
        self.random_state = random_state

    def fit(self, F: np.ndarray, compositions) -> ApplicabilityDomain:
        """Remember the training elements and a reference sample of standardized features.

        Args:
            F: the training rows' feature matrix.
            compositions: their compositions.

        Returns:
            ``self``.
        """
        F = np.asarray(F, float)
        compositions = list(compositions)
        self.elements_ = sorted({el.symbol for c in compositions for el in c.elements})
        counts = [len(c.elements) for c in compositions]
        self.n_elements_ = [min(counts), max(counts)] if counts else None
        self.mean_ = np.nanmean(F, axis=0)
        scale = np.nanstd(F, axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        rng = np.random.default_rng(self.random_state)
        rows = rng.permutation(len(F))[:MAX_REFERENCE]
        self.reference_ = self._standardize(F[rows]).astype(np.float32)
        self._index = None
        return self

    def _standardize(self, F) -> np.ndarray:
        # bounded, so the float32 neighbour search stays finite whatever a file's scales are
        z = np.nan_to_num((np.asarray(F, float) - self.mean_) / self.scale_)
        return np.clip(z, -_MAX_Z, _MAX_Z)

    def distance(self, F: np.ndarray) -> np.ndarray:
        """Mean distance to the nearest reference rows (standardized units).

        Args:
            F: the rows' feature matrix.

        Returns:
            One distance per row.
        """
        from sklearn.neighbors import NearestNeighbors

        if getattr(self, "_index", None) is None:
            k = min(N_NEIGHBORS, len(self.reference_))
            self._index = NearestNeighbors(n_neighbors=k).fit(self.reference_)
        from sklearn import config_context

        # the search holds a block of distances to every reference row: 64 MiB blocks keep a
        # screen's workers small (the default is 1 GiB each)
        with config_context(working_memory=64):
            d, _ = self._index.kneighbors(self._standardize(F).astype(np.float32))
        return d.mean(axis=1)

    def _scores(self, F, sigma) -> dict[str, np.ndarray]:
        if sigma is None:
            return {"distance": self.distance(F)}
        return {"distance": self.distance(F), "σ": np.asarray(sigma, float)}

    def calibrate(self, F_cal, sigma_cal, abs_error_cal) -> ApplicabilityDomain:
        """Choose the score that ranks calibration errors best; keep its calibration values.

        Args:
            F_cal: the calibration rows' feature matrix.
            sigma_cal: their σ (``None`` for a model without one: the distance alone).
            abs_error_cal: their absolute errors.

        Returns:
            ``self``.
        """
        return self.calibrate_scores(self._scores(F_cal, sigma_cal), abs_error_cal)

    def calibrate_scores(self, scores: dict[str, np.ndarray], abs_error_cal) -> ApplicabilityDomain:
        """``calibrate`` from candidate scores computed elsewhere: for cross-fitted
        calibration rows (each row's distance measured to a reference without its own fold),
        where the distance to this domain's reference would find the row itself; or for a
        model without σ, which gives the distance alone.

        Args:
            scores: ``{"distance": …, "σ": …}`` of the calibration rows, or one of them.
            abs_error_cal: their absolute errors.

        Returns:
            ``self``.
        """
        if not scores or not set(scores) <= set(SCORES):
            raise InputError(f"the domain needs one or both of the scores {', '.join(SCORES)}")
        err = np.asarray(abs_error_cal, float)
        scores = {name: np.asarray(v, float) for name, v in scores.items()}
        self.correlations_ = {
            name: float(spearmanr(s, err).statistic) if np.ptp(s) > 0 else 0.0
            for name, s in scores.items()
        }
        self.score_ = max(
            (name for name in SCORES if name in scores), key=lambda name: self.correlations_[name]
        )
        self.calibration_scores_ = np.sort(scores[self.score_])
        self.threshold_ = float(np.percentile(self.calibration_scores_, FLAG_PERCENTILE))
        return self

    def reason(self) -> str:
        """Why a formula with known elements is flagged, in words."""
        if self.score_ == "distance":
            return "far from the training data"
        return f"σ above {FLAG_PERCENTILE:g} % of held-out rows"

    def unseen(self, compositions) -> list[str]:
        """Per formula, the elements no training row had.

        Args:
            compositions: the compositions.

        Returns:
            One comma-separated list per formula ('' if none).
        """
        known = set(self.elements_)
        return [", ".join(sorted({el.symbol for el in c.elements} - known)) for c in compositions]

    def assess(self, F, compositions, sigma) -> dict[str, object]:
        """Where each row lies against the calibration rows.

        Args:
            F: the rows' feature matrix.
            compositions: their compositions.
            sigma: their σ (for a σ-based score).

        Returns:
            ``{"domain score"`` (calibration percentile), ``"unseen elements"``,
            ``"in domain"``, ``"why"}`` (for each row outside the domain, the reason in words;
            ``""`` inside).
        """
        if not hasattr(self, "score_"):
            raise InputError("The domain of applicability was not calibrated")
        # only the chosen score: the distance needs a neighbour search, σ is given
        raw = self.distance(F) if self.score_ == "distance" else np.asarray(sigma, float)
        rank = np.searchsorted(self.calibration_scores_, raw, side="right")
        percentile = 100.0 * rank / len(self.calibration_scores_)
        unseen = self.unseen(compositions)
        why = [f"unseen {u}" if u else "" for u in unseen]
        span = getattr(self, "n_elements_", None)
        for i, comp in enumerate(compositions):
            n = len(comp.elements)
            if not why[i] and span is not None and not span[0] <= n <= span[1]:
                trained = f"{span[0]}" if span[0] == span[1] else f"{span[0]}–{span[1]}"
                why[i] = f"{n} element{'s' * (n != 1)}; trained on {trained}"
            elif not why[i] and raw[i] > self.threshold_:
                why[i] = self.reason()
        inside = np.array([not w for w in why], bool)
        return {
            "domain score": percentile,
            "unseen elements": unseen,
            "in domain": inside,
            "why": why,
        }

    # ------------------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Plain JSON fields and arrays, for a model file."""
        fields = {
            "random_state": self.random_state,
            "elements_": self.elements_,
            "score_": self.score_,
            "threshold_": self.threshold_,
            "correlations_": self.correlations_,
            "n_elements_": getattr(self, "n_elements_", None),
        }
        arrays = {
            "mean": self.mean_,
            "scale": self.scale_,
            "reference": self.reference_,
            "calibration_scores": self.calibration_scores_,
        }
        return fields, arrays

    @classmethod
    def from_state(cls, fields: dict, arrays) -> ApplicabilityDomain:
        """Rebuild from ``state()``.

        Args:
            fields: the plain JSON fields of ``state()``.
            arrays: its arrays.

        Returns:
            The domain.
        """
        dom = cls(int(fields["random_state"]))
        dom.elements_ = [str(e) for e in fields["elements_"]]
        dom.score_ = str(fields["score_"])
        if dom.score_ not in SCORES:
            raise InputError("the domain of applicability is malformed")
        dom.threshold_ = float(fields["threshold_"])
        dom.correlations_ = {str(k): float(v) for k, v in fields["correlations_"].items()}
        span = fields.get("n_elements_")  # absent from files written before the rule
        if span is not None and not (
            isinstance(span, list)
            and len(span) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in span)
            and 1 <= span[0] <= span[1] <= 120
        ):
            raise InputError("the domain of applicability is malformed")
        dom.n_elements_ = span
        dom.mean_ = np.asarray(arrays["mean"], float)
        dom.scale_ = np.asarray(arrays["scale"], float)
        dom.reference_ = np.asarray(arrays["reference"], np.float32)
        dom.calibration_scores_ = np.asarray(arrays["calibration_scores"], float)
        n = len(dom.mean_)
        if dom.scale_.shape != (n,) or dom.reference_.ndim != 2 or dom.reference_.shape[1] != n:
            raise InputError("the domain of applicability is malformed")
        finite = (
            np.isfinite(dom.mean_).all()
            and np.isfinite(dom.scale_).all()
            and (dom.scale_ > 0).all()
            and (np.abs(dom.reference_) <= _MAX_Z).all()
            and len(dom.calibration_scores_) > 0
            and np.isfinite(dom.calibration_scores_).all()
            and np.isfinite(dom.threshold_)
        )
        if not finite or (np.diff(dom.calibration_scores_) < 0).any():
            raise InputError("the domain of applicability is malformed")
        dom._index = None
        return dom


__all__ = ["FLAG_PERCENTILE", "MAX_REFERENCE", "SCORES", "ApplicabilityDomain"]
