"""The PBE gap of a composition with a metal gate: the fitted model behind the named
``pbe-gap`` file.

It holds what ``bandgaps.analyses.mp_gap_gated`` fits and chooses (a ``GatedGapModel``
whose gate and threshold were chosen on calibration rows) together with the composition
features it reads, so a composition goes in and the PBE gap and the metal probability come
out, as the ``PBEReference`` columns do. Its domain of applicability (``domain_``, from the
training rows and the calibration rows' errors) flags a composition the training data cannot
speak for: an element no row had (the noble gases), or one far from every row.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from bandgaps.models.domain import ApplicabilityDomain
from bandgaps.models.transfer import TRANSFER_LABELS, GatedGapModel


class PBEGapModel(BaseEstimator):
    """PBE gap (0 eV where the gate says metal) and metal probability from composition.

    Built from fitted parts (``from_parts``): the model's choice is made by the analysis that
    trains it, and the file keeps what was chosen (``choice_``).

    Args:
        feature_set: the composition features the model reads.
    """

    #: The domain of applicability (``None`` in a file written without one).
    domain_ = None

    def __init__(self, feature_set: str = "magpie+fractions"):
        self.feature_set = feature_set

    @classmethod
    def from_parts(
        cls,
        feature_set: str,
        model: GatedGapModel,
        n_train: int,
        choice: dict,
        domain: ApplicabilityDomain | None = None,
    ) -> PBEGapModel:
        """A fitted ``PBEGapModel`` from a fitted ``GatedGapModel``.

        Args:
            feature_set: the composition features ``model`` was fitted on.
            model: the fitted gated model (its gate gives the metal probability).
            n_train: the rows it learned from.
            choice: what was chosen on the calibration rows (plain numbers and text).
            domain: the calibrated domain of applicability of ``model``'s features.

        Returns:
            The fitted model.
        """
        check_is_fitted(model, "regressor_")
        if model.gate_ is None:
            raise ValueError("the PBE gap model needs a gate for its metal probability")
        out = cls(feature_set)
        out.model_ = model
        out.n_train_ = int(n_train)
        out.choice_ = dict(choice)
        out.domain_ = domain
        return out

    def _check_built(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this PBEGapModel has no fitted parts: build it with from_parts")

    def transform_features(self, F: np.ndarray) -> np.ndarray:
        """The two columns from a composition-feature matrix of ``feature_set``.

        Args:
            F: the feature matrix.

        Returns:
            ``(n, 2)``: PBE gap (eV), metal probability.
        """
        self._check_built()
        return np.column_stack([self.model_.predict(F), self.model_.predict_metal_proba(F)])

    def featurize_many(self, compositions) -> np.ndarray:
        """The two columns for many compositions.

        Args:
            compositions: formulas or compositions.

        Returns:
            ``(n, 2)``: PBE gap (eV), metal probability.
        """
        from bandgaps.features.composition import CompositionFeatures

        F = CompositionFeatures(self.feature_set).transform(list(compositions))
        return self.transform_features(F)

    def predict(self, compositions) -> np.ndarray:
        """The PBE gap of each composition (eV).

        Args:
            compositions: formulas or compositions.

        Returns:
            One gap per composition.
        """
        return self.featurize_many(compositions)[:, 0]

    def feature_labels(self) -> list[str]:
        return list(TRANSFER_LABELS)

    def state(self) -> tuple[dict, dict[str, bytes]]:
        """Plain data of the fitted model: its gated model, feature set, choice and domain.

        Returns:
            ``(fields, files)`` for ``bandgaps.models.persist``.
        """
        from bandgaps.models.persist import calibration_state, jsonable

        self._check_built()
        model, files = self.model_.state("pbe-")
        parts, part_files = calibration_state(self)
        fields = {
            "class": type(self).__name__,
            "feature_set": self.feature_set,
            "n_train": int(self.n_train_),
            "choice": jsonable(self.choice_),
            "model": model,
            "domain": parts["domain"],
        }
        return fields, {**files, **part_files}

    @classmethod
    def from_state(cls, fields: dict, archive) -> PBEGapModel:
        """Rebuild a fitted model from ``state()``'s data, every field checked first.

        Args:
            fields: the description ``state()`` wrote.
            archive: the model file's ``bandgaps.models.persist.Archive``.

        Returns:
            The fitted ``PBEGapModel``.
        """
        from bandgaps.features.composition import CompositionFeatures, get_feature_set

        if not isinstance(fields, dict) or fields.get("class") != cls.__name__:
            raise archive.refuse("the PBE gap model is missing")
        name = get_feature_set(fields.get("feature_set")).name
        n_train, choice, model = fields.get("n_train"), fields.get("choice"), fields.get("model")
        if not isinstance(n_train, int) or n_train < 0 or not isinstance(choice, dict):
            raise archive.refuse("its row counts or its choice are malformed")
        if not isinstance(model, dict) or not isinstance(model.get("params"), dict):
            raise archive.refuse("its gated model is malformed")
        width = len(CompositionFeatures(name, cache=False).feature_labels())
        gated = GatedGapModel.from_state(model, archive, width)
        if gated.gate_ is None:
            raise archive.refuse("its gate is missing")
        domain = archive.part(ApplicabilityDomain, fields.get("domain"), "domain")
        if domain is not None and len(domain.mean_) != width:
            raise archive.refuse("its parts do not fit together")
        out = cls(name)
        out.model_, out.n_train_, out.choice_ = gated, n_train, choice
        out.domain_ = domain
        return out


__all__ = ["PBEGapModel"]
