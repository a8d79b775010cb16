"""The entries registered before scoring (``mp-gap-gated``, ``expt-is-metal-chosen``): their
choices are made on training rows only, by the rule the registry states, at small scale."""

import numpy as np
import pytest
from conftest import SMALL_GBM
from sklearn.metrics import roc_auc_score

from bandgaps.analyses import expt_is_metal_chosen as EC
from bandgaps.analyses import mp_gap_gated as MG
from bandgaps.analyses import registry as R


def test_the_submitted_entries_are_the_registered_ones():
    assert R.entry_for("mp_gap", MG.GATED_ENTRY).id == "mp-gap-gated"
    assert R.submitted_entry("mp_gap").label == MG.GATED_ENTRY
    assert R.entry_for("expt_is_metal", EC.CHOSEN_ENTRY).id == "expt-is-metal-chosen"
    assert R.submitted_entry("expt_is_metal").label == EC.CHOSEN_ENTRY
    from bandgaps.analyses.expt_gap_cleaned import CLEANED_ENTRY

    assert R.submitted_entry("expt_gap").label == CLEANED_ENTRY
    # the thresholds are the ones the registry lists
    assert "0.3, 0.4, 0.5, 0.6, 0.7" in " ".join(R.get_entry("mp-gap-gated").choices)
    assert MG.THRESHOLDS == (0.3, 0.4, 0.5, 0.6, 0.7)
    assert EC.THRESHOLDS[0] == 0.30 and EC.THRESHOLDS[-1] == 0.70 and len(EC.THRESHOLDS) == 9


def test_the_gate_is_kept_only_where_it_beats_the_ungated_model():
    y = np.array([0.0, 0.0, 1.0, 2.0, 3.0])
    proba = np.array([0.95, 0.35, 0.2, 0.1, 0.05])
    good = y + 0.05
    # the gate zeroes the second metal only below 0.35: 0.3 is the best threshold
    use, threshold, maes, plain = MG.choose_gate(y, proba, good, y + 0.2)
    assert use and threshold == 0.3 and maes[0.3] == min(maes.values())
    assert plain == pytest.approx(0.2)
    # an ungated model that is better on the calibration rows is kept
    use, *_ = MG.choose_gate(y, proba, good, y)
    assert not use


def test_gated_mp_gap_run_records_its_choices_and_predicts_with_them(mp_gap_small):
    """At small scale: every fold records its threshold and the calibration figures behind the
    choice; a fold that kept the ungated model predicts exactly the ungated fit's test rows."""
    run = MG.run_mp_gap_gated(n_rows=3000, model=SMALL_GBM)
    table = MG.gate_choices(run)
    assert list(table["fold"]) == [0, 1, 2, 3, 4]
    for k, p in enumerate(run.parameters):
        maes = p["calibration MAE by threshold"]
        assert set(maes) == {f"{t:g}" for t in MG.THRESHOLDS}
        assert maes[f"{p['threshold']:g}"] == min(maes.values())
        assert p["gate"] == (min(maes.values()) < p["ungated calibration MAE"])
        fold = run.predictions[run.predictions["fold"] == k]
        ungated = mp_gap_small.fits[k].frame("test")["mean"].to_numpy()
        if p["gate"]:
            assert (fold["prediction"] == 0).mean() > 0.2  # metals set to exactly 0 eV
        else:
            np.testing.assert_array_equal(fold["prediction"].to_numpy(), ungated)
    assert run.mean() == pytest.approx(table["test MAE"].mean())


def test_moving_the_threshold_keeps_the_ranking_and_the_labels():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (p + rng.normal(0, 0.3, 500) > 0.5).astype(int)
    for t in (0.3, 0.45, 0.6):
        moved = EC.move_threshold(p, t)
        assert roc_auc_score(y, moved) == pytest.approx(roc_auc_score(y, p))
        np.testing.assert_array_equal(moved > 0.5, p > t)
        assert moved.min() >= 0 and moved.max() <= 1


def test_report_labels_are_one_majority_label_per_composition():
    labels = EC.report_labels()
    assert labels["key"].is_unique and set(labels["target"]) == {0.0, 1.0}
    assert 4900 < len(labels) < 4921 and labels.attrs["ties"] >= 0
    assert labels["reports"].sum() > 6300


def test_chosen_metal_entry_takes_pieces_by_the_inner_scores():
    """One fold with small boosters: the pieces taken are those whose inner balanced accuracy
    beats the base's, the threshold is the inner scores' best, the probabilities stay in
    [0, 1]."""
    run = EC.run_expt_is_metal_chosen(folds=[0], params={"n_estimators": 25, "num_leaves": 7})
    p = run.parameters[0]
    inner = p["inner balanced accuracy"]
    taken = {
        "MP lookup": inner["MP lookup"] > inner["base"],
        "reports": inner["reports"] > inner["base"],
    }
    expected = " + ".join(k for k, on in taken.items() if on) or "base"
    assert p["pieces"] == expected and expected in inner
    by_threshold = p["inner balanced accuracy by threshold"]
    assert by_threshold[f"{p['threshold']:.2f}"] == max(by_threshold.values())
    pred = run.predictions["prediction"]
    assert pred.between(0, 1).all() and len(pred) == 985
    assert 0.8 < run.scores["rocauc"].item() <= 1


def test_the_cleaning_rule_flags_only_non_metals_far_above_their_prediction():
    from bandgaps.analyses import expt_gap_cleaned as XC

    rng = np.random.default_rng(1)
    oof = rng.uniform(0.5, 4, 400)
    y = oof + rng.normal(0, 0.2, 400)
    y[:50] = 0.0  # metals: never flagged, however far their prediction
    y[60:65] += 3.0  # five reported far above
    y[70:75] -= 3.0  # far below: the rule is one-sided
    mask, limit = XC.flag_rows(np.clip(y, 0, None), oof)
    assert 0.5 < limit < 1.2  # 3 robust σ of noise 0.2
    assert set(np.flatnonzero(mask)) == set(range(60, 65))


def test_cleaned_entry_decides_on_training_rows_and_lists_what_it_flags():
    """One fold with small boosters: flagged rows are non-metal training rows, the decision
    follows the calibration MAE, and the Si–Ge sweep's rule never sees a Si–Ge row."""
    from bandgaps.analyses import expt_gap_cleaned as XC
    from bandgaps.analyses.matbench import TASKS, official_folds

    small = {"n_estimators": 25, "num_leaves": 7}
    run, cleanings = XC.run_expt_gap_cleaned(folds=[0], params=small)
    (cleaning,) = cleanings
    table = XC.cleaning_table(run, cleanings)
    assert table["dropped"].item() == (
        "yes"
        if cleaning.calibration_mae["cleaned"] < cleaning.calibration_mae["every row"]
        else "no"
    )
    frame = TASKS["expt_gap"].load()
    _, test_rows = official_folds(TASKS["expt_gap"], frame["target"])[0]
    assert not set(cleaning.flagged.index) & set(frame.index[test_rows])
    assert (cleaning.flagged["target"] > 0).all()
    assert (cleaning.flagged["excess"] > cleaning.limit).all()
    listed = XC.flagged_rows(cleanings)
    assert len(listed) == len(cleaning.flagged) and listed["excess"].is_monotonic_decreasing
    assert np.isfinite(run.predictions["prediction"]).all() and len(run.predictions) == 921

    sweep = XC.si_ge_cleaned(n_grid=11, params=small)
    assert len(sweep.curve) == 11 and np.isfinite([sweep.mae_4k, sweep.mae_300k]).all()
    from bandgaps.models.transfer import only_elements

    assert not any(only_elements(f, ("Si", "Ge")) for f in sweep.cleaning.flagged["formula"])


def test_the_named_pbe_gap_model_is_the_gated_entry_trained_on_every_row(tmp_path):
    """At small scale: the product makes the entry's choice on its own calibration rows, its
    file reads back (no pickle) and predicts the same, and a metal it gates is 0 eV."""
    from bandgaps.features.composition import get_feature_set
    from bandgaps.models.persist import ModelCard, load_model, save_model

    kind, _, params = SMALL_GBM
    model = (kind, "magpie+fractions", params)
    product, data = MG.pbe_gap_product(n_rows=3000, model=model)
    maes = data["calibration MAE by threshold"]
    assert maes[f"{data['threshold']:g}"] == min(maes.values())
    assert data["gate"] == (min(maes.values()) < data["ungated calibration MAE"])
    assert data["fit rows"] + data["calibration rows"] == data["rows"] == 3000
    assert product.model_.threshold == (data["threshold"] if data["gate"] else 1.0)
    card = ModelCard(
        kind="pbe-gap",
        target="PBE gap (eV)",
        feature_set=get_feature_set("magpie+fractions").config(),
        training_data={"rows": 3000},
        n_train=product.n_train_,
        params=params,
    )
    path = save_model(tmp_path / "pbe-gap.bgm", product, card)
    loaded, _, _ = load_model(path)
    formulas = ["Si", "Cu", "NaCl", "GaAs", "Fe2O3"]
    np.testing.assert_allclose(loaded.featurize_many(formulas), product.featurize_many(formulas))
    gaps, metal = product.featurize_many(formulas).T
    assert (gaps >= 0).all() and ((metal >= 0) & (metal <= 1)).all()
    if data["gate"]:
        np.testing.assert_array_equal(gaps[metal > data["threshold"]], 0.0)
    assert {k: loaded.choice_[k] for k in ("gate", "threshold")} == {
        k: data[k] for k in ("gate", "threshold")
    }
    assert b"pickle" not in path.read_bytes()
    # its domain: what the fit rows had, read back from the file; a noble gas is outside
    assert data["domain"]["elements"] == len(loaded.domain_.elements_) > 10
    from pymatgen.core import Composition

    from bandgaps.models import predictor

    spec = predictor.Predictor("pbe-gap", "named", "PBE gap (eV)", str(path))
    predictor._LOADED[spec.key] = loaded
    try:
        table = spec.predict_table([Composition(f) for f in [*formulas, "Kr"]])
    finally:
        predictor._LOADED.clear()
    assert list(table.columns) == ["PBE gap (eV)", "metal probability", "domain score", "in domain"]
    assert not table["in domain"].iloc[-1] and table.attrs["domain reasons"][-1] == "unseen Kr"
    assert table["domain score"].between(0, 100).all()


def test_the_cleaning_rule_on_a_whole_table_keeps_or_drops_what_its_judges_say():
    """The named measured-gap model's use of the rule, at small scale on report rows: every
    row is a training row, and the flagged rows go only if the judges' MAE is lower."""
    from bandgaps.analyses import expt_gap_cleaned as XC
    from bandgaps.analyses.measured_reports import _report_inputs

    table, F = _report_inputs()
    table, F = table.iloc[:900].reset_index(drop=True), F[:900]
    keep, cleaning = XC.clean_table(table, F, params={"n_estimators": 25, "num_leaves": 7})
    judges = cleaning.calibration_mae
    assert cleaning.clean == (judges["cleaned"] < judges["every row"])
    assert (~keep).sum() == (len(cleaning.flagged) if cleaning.clean else 0)
    assert (cleaning.flagged["target"] > 0).all()
    assert (cleaning.flagged["excess"] > cleaning.limit).all()
    assert 80 <= cleaning.calibration_rows <= 100
