"""The official Matbench protocol: the fold rule, the nesting, the related-task and
leave-system-out filters, and the results file."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from bandgaps import cache
from bandgaps.analyses import matbench as MB
from bandgaps.analyses import measured as Me
from bandgaps.analyses import measured_entries, measured_inputs
from bandgaps.config import SEED


@pytest.fixture(scope="module")
def tasks():
    return {name: (task, task.load()) for name, task in MB.TASKS.items()}


@pytest.mark.parametrize(
    ("task_name", "model"),
    [
        ("expt_gap", "CrabNet"),
        ("mp_gap", "CrabNet"),
        ("expt_gap", "darwin"),
        ("expt_is_metal", "darwin"),
        ("expt_is_metal", "rf"),
    ],
)
def test_fold_rule_gives_the_published_test_rows_and_fold_scores(tasks, task_name, model):
    task, frame = tasks[task_name]
    folds = MB.official_folds(task, frame["target"])
    published = MB.leaderboard_predictions(task, model)
    board = MB.leaderboard_folds()
    listed = (
        board[
            (board["model"] == model)
            & (board["task"] == task.matbench_name)
            & (board["metric"] == task.metric)
        ]
        .sort_values("fold")["value"]
        .to_numpy()
    )
    assert len(listed) == 5
    for k, (train, test) in enumerate(folds):
        rows = published[published["fold"] == k]
        assert set(rows.index) == set(frame.index[test])
        assert not set(frame.index[train]) & set(frame.index[test])
        score = MB.score_fold(task, frame.loc[rows.index, "target"], rows["prediction"])
        assert score[task.metric] == pytest.approx(listed[k], abs=1e-6)


def test_crabnet_expt_gap_fold_maes_are_the_published_ones(tasks):
    task, frame = tasks["expt_gap"]
    published = MB.leaderboard_predictions(task, "CrabNet")
    maes = [
        MB.score_fold(task, frame.loc[g.index, "target"], g["prediction"])["mae"]
        for _, g in published.groupby("fold")
    ]
    assert np.round(maes, 4).tolist() == [0.3476, 0.3434, 0.3473, 0.3329, 0.3602]


def test_label_submissions_score_rocauc_equal_to_balanced_accuracy():
    task = MB.TASKS["expt_is_metal"]
    s = MB.score_fold(task, [0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    assert s["rocauc"] == pytest.approx(s["balanced_accuracy"])


def test_runner_never_shows_a_fit_the_test_rows_or_their_targets(tasks):
    task, frame = tasks["expt_gap"]
    seen = []

    def fit_predict(train, test, fold):
        assert "target" not in test.columns
        assert not set(train.index) & set(test.index)
        seen.append((set(train.index), set(test.index)))
        return np.full(len(test), train["target"].median()), {"fold": fold}

    run = MB.run_task(task, fit_predict, "median", data=frame)
    tests = [t for _, t in seen]
    assert sum(len(t) for t in tests) == len(frame)
    assert set().union(*tests) == set(frame.index)
    assert len(run.scores) == 5 and run.predictions.index.is_unique
    # each fold scored once, on its own rows
    for k, (_, t) in enumerate(seen):
        assert set(run.predictions.index[run.predictions["fold"] == k]) == t


def test_runner_refuses_predictions_of_the_wrong_length(tasks):
    task, frame = tasks["expt_gap"]
    with pytest.raises(Exception, match="predictions"):
        MB.run_task(task, lambda tr, te, k: (np.zeros(3), {}), "bad", data=frame, folds=[0])


def test_related_task_rows_of_test_compositions_are_kept_out(tasks):
    """expt_is_metal rows whose composition is in an expt_gap test fold never train that fold."""
    from bandgaps.models.transfer import composition_key

    task, frame = tasks["expt_gap"]
    _, metal = tasks["expt_is_metal"]
    for _train, test in MB.official_folds(task, frame["target"]):
        keep = Me.rows_outside(metal, frame.iloc[test])
        test_keys = {composition_key(c) for c in frame.iloc[test]["composition"]}
        kept_keys = {composition_key(c) for c in metal.loc[keep, "composition"]}
        assert not test_keys & kept_keys
        dropped = {composition_key(c) for c in metal.loc[~keep, "composition"]}
        assert dropped <= test_keys and len(dropped) > 100  # the tasks overlap heavily


def test_leave_system_out_removes_exactly_the_si_ge_rows(tasks):
    from pymatgen.core import Element

    _, frame = tasks["expt_gap"]
    _, metal = tasks["expt_is_metal"]
    keep = Me.rows_without_system(frame)
    removed = frame.loc[~keep, "composition"]
    assert len(removed) == 23
    assert all({e.symbol for e in c.elements} <= {"Si", "Ge"} for c in removed)
    # rows that merely contain Si or Ge stay
    assert any(Element("Ge") in c.elements for c in frame.loc[keep, "composition"])
    assert (~Me.rows_without_system(metal)).sum() >= 1


def test_the_measured_gap_model_is_the_median_of_the_gated_variants():
    from bandgaps.models.transfer import GatedCommittee, GatedGapModel

    model = Me.build_model(Me.COMMITTEE)
    assert isinstance(model, GatedCommittee)
    assert len(model.members) == len(Me.GATED_VARIANTS) == 4
    n_comp = Me.n_composition_features()
    reads = [len(m.columns) for m in model.members]
    assert reads == [n_comp + 2, n_comp + 2, n_comp + 2, n_comp + 5]  # the last reads the lookup
    assert [m.extra_labels for m in model.members] == [False, True, True, False]
    assert [m.residual_column for m in model.members] == [None, None, n_comp, None]
    smooth = Me.build_model(Me.EXPT_GAP_ENTRIES[2], columns=Me.smooth_columns())
    assert isinstance(smooth, GatedGapModel)
    dropped = set(range(n_comp)) - set(smooth.columns)
    assert len(dropped) == len(Me.switching_labels()) > 0


def test_results_file_has_matbench_layout_and_round_trips(tmp_path, tasks):
    from bandgaps.analyses import submission as S

    task, frame = tasks["expt_gap"]
    run = MB.run_task(
        task, lambda tr, te, k: (np.full(len(te), 1.0), {"k": k}), "constant", data=frame
    )
    path = S.write_results(tmp_path / "results.json.gz", [run])
    with gzip.open(path, "rt") as fh:
        doc = json.load(fh)
    res = doc["tasks"]["matbench_expt_gap"]["results"]
    assert sorted(res) == [f"fold_{k}" for k in range(5)]
    assert set(res["fold_0"]) == {"data", "parameters", "scores"}
    assert set(res["fold_0"]["scores"]) == {"mae", "rmse", "mape", "max_error"}
    assert next(iter(res["fold_0"]["data"])).startswith("mb-expt-gap-")
    back = S.read_results(path)["matbench_expt_gap"]
    pd.testing.assert_series_equal(
        back["prediction"].sort_index(), run.predictions["prediction"].sort_index()
    )
    assert not list(tmp_path.glob("*.tmp*"))


def test_the_committee_run_is_the_fitted_committee_on_each_fold(tasks, monkeypatch):
    """The committee's fold predictions come from its members' own entry runs (not refitted);
    on fold 0 they match a GatedCommittee fitted on that fold's training rows. The PBE
    reference (2,000 mp_gap rows) and the variants' boosters are small and nothing is
    cached: the check is the bookkeeping, not the models' quality."""
    from bandgaps.models.transfer import PBEReference

    task, _ = tasks["expt_gap"]
    _, pbe = tasks["mp_gap"]
    pbe = pbe.sample(2000, random_state=0)
    small = PBEReference(Me.FEATURE_SET, params={"n_estimators": 60}).fit(
        pbe["composition"], pbe["target"]
    )
    monkeypatch.setattr(measured_inputs, "pbe_reference", lambda: small)
    monkeypatch.setattr(measured_entries, "ENTRY_PARAMS", {"n_estimators": 40})
    with cache.disabled():
        run = Me.run_expt_gap(Me.COMMITTEE, folds=[0])
        layout, F = measured_inputs.task_inputs(task, True, True)
        metal, metal_F = measured_inputs.task_inputs(MB.get_task("expt_is_metal"), True, True)
    assert run.entry == Me.COMMITTEE.label and list(run.scores["fold"]) == [0]
    assert "metal label rows" in run.parameters[0]
    train, test = MB.official_folds(task, layout["target"])[0]
    Xm, ym, _ = measured_inputs.outside_test(metal, metal_F, layout.iloc[test])
    committee = Me.build_model(Me.COMMITTEE, seed=SEED)
    committee.fit(F[train], layout["target"].to_numpy()[train], Xm, ym)
    gap, spread = committee.predict(F[test], return_std=True)
    np.testing.assert_allclose(run.predictions["prediction"], gap, atol=1e-9)
    np.testing.assert_allclose(run.predictions["σ"], spread, atol=1e-9)
    assert run.mean() == pytest.approx(np.mean(np.abs(gap - layout["target"].to_numpy()[test])))
