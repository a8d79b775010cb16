"""The vectorised feature sets against matminer itself, errors, and the on-disk cache."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition

from bandgaps.errors import InputError
from bandgaps.features.composition import (
    FEATURE_SETS,
    CompositionFeatures,
    featurize,
    get_feature_set,
)

EDGE_CASES = ["Si", "Ge", "Si0.49Ge0.51", "Fe3O4", "NaCl", "He", "Xe2F4", "Li7La3Zr2O12", "H2O"]


@pytest.fixture(scope="module")
def sample_formulas(shared) -> list[str]:
    gap = pd.read_csv(shared / "data/matbench/mp_gap/train0.csv", keep_default_na=False)
    kpt = pd.read_csv(shared / "data/jarvis/kpoint_length_unit/val.csv", keep_default_na=False)
    rng = np.random.default_rng(0)
    return EDGE_CASES + list(rng.choice(gap["formula"], 60)) + list(rng.choice(kpt["formula"], 40))


@pytest.mark.parametrize("name", sorted(FEATURE_SETS))
def test_matches_matminer(name, sample_formulas):
    """Every column equals matminer's own featurizers, formula by formula."""
    featurizers = get_feature_set(name).featurizers()
    ours = CompositionFeatures(name, cache=False)
    assert ours.feature_labels() == [lab for f in featurizers for lab in f.feature_labels()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = np.array(
            [
                [v for f in featurizers for v in f.featurize(Composition(formula))]
                for formula in sample_formulas
            ],
            dtype=float,
        )
    got = ours.featurize_many(sample_formulas)
    np.testing.assert_allclose(got, reference, rtol=1e-9, atol=1e-12)


def test_matminer_shape():
    feats = CompositionFeatures("magpie")
    row = feats.featurize(Composition("GaAs"))
    assert len(row) == len(feats.feature_labels()) == 145
    assert any("Ward" in c for c in feats.citations())
    assert feats.implementors()


def test_unparsable_formula_names_row():
    with pytest.raises(InputError, match=r"'Qq3' \(row 1\)"):
        featurize(["Si", "Qq3", "GaAs"], cache=False)


def test_element_without_data_is_refused():
    with pytest.raises(InputError, match="Og"):
        featurize(["Og2Si"], cache=False)


def test_unknown_feature_set():
    with pytest.raises(InputError, match="known sets"):
        CompositionFeatures("nope").feature_labels()


def test_cache_is_keyed_by_formulas_and_set(tmp_path, monkeypatch):
    monkeypatch.setenv("BANDGAPS_CACHE", str(tmp_path))
    a = featurize(["Si", "GaAs"])
    files = list(tmp_path.rglob("*.pkl"))
    assert len(files) == 1
    b = featurize(["Si", "GaAs"])
    pd.testing.assert_frame_equal(a, b)
    assert len(list(tmp_path.rglob("*.pkl"))) == 1  # a hit, no new entry
    featurize(["Si", "GaAs"], "magpie+fractions")
    featurize(["GaAs", "Si"])
    assert len(list(tmp_path.rglob("*.pkl"))) == 3


def test_transformer_in_pipeline_returns_array():
    from sklearn.base import clone

    feats = clone(CompositionFeatures("magpie", cache=False)).fit(["Si"])
    X = feats.transform(pd.Series(["Si", "Ge"]))
    assert isinstance(X, np.ndarray) and X.shape == (2, 145)
    assert list(feats.get_feature_names_out())[:2] == ["0-norm", "2-norm"]


def test_featurizers_are_built_once_per_process():
    """matminer's data sources cost about 0.25 s to build; every CompositionFeatures of one set
    shares them, so a `bandgaps predict` call does not rebuild them (it did, per call)."""
    from bandgaps.features.composition import CompositionFeatures

    a, b = CompositionFeatures("magpie"), CompositionFeatures("magpie")
    assert a._blocks is b._blocks
    assert CompositionFeatures("magpie+fractions")._blocks is not a._blocks
    assert a.transform(["NaCl"]).tolist() == b.transform(["NaCl"]).tolist()


def test_known_features_are_read_not_computed(monkeypatch):
    """Inside ``known_features`` a subset of the declared formulas is read from the matrix
    (the rows a computation gives); outside it, or for another feature set, it is computed."""
    from bandgaps.features.composition import known_features

    formulas = ["NaCl", "GaAs", "Si", "Fe2O3", "GaAs"]
    feats = CompositionFeatures("magpie", cache=True)
    full = feats.transform(formulas)
    subset = ["Si", "NaCl", "GaAs"]
    expected = feats.transform(subset)

    def no_compute(*args, **kwargs):
        raise AssertionError("computed instead of read")

    uncached = CompositionFeatures("magpie", cache=False)
    with known_features("magpie", formulas, full):
        monkeypatch.setattr(CompositionFeatures, "featurize_many", no_compute)
        np.testing.assert_array_equal(uncached.transform(subset), expected)
        with pytest.raises(AssertionError, match="computed"):
            uncached.transform(["KBr"])  # not declared
        with pytest.raises(AssertionError, match="computed"):
            CompositionFeatures("magpie+fractions", cache=False).transform(subset)  # another set
    with pytest.raises(AssertionError, match="computed"):
        uncached.transform(subset)  # the block has ended
    with (
        pytest.raises(ValueError, match="4 feature rows"),
        known_features("magpie", formulas, full[:4]),
    ):
        pass
