"""Matbench submission folders: Matbench's own reader accepts them, and every way a file can
disagree with the published folds or with itself is caught by ``check_submission``."""

from __future__ import annotations

import gzip
import json
import subprocess

import numpy as np
import pytest

from bandgaps.analyses import matbench as MB
from bandgaps.analyses import registry as R
from bandgaps.analyses import submission as S
from bandgaps.errors import InputError


@pytest.fixture(scope="module")
def runs():
    """A cheap entry on two tasks: a constant gap, and a metal probability from the formula's
    number of elements (any value in [0, 1] the benchmark must accept)."""
    gap, metal = MB.TASKS["expt_gap"], MB.TASKS["expt_is_metal"]
    constant = MB.run_task(gap, lambda tr, te, k: (np.full(len(te), 1.2), {"k": k}), "constant")

    def by_elements(train, test, fold):
        n = np.array([len(c) for c in test["composition"]])
        return np.clip(1.2 - 0.3 * n, 0.0, 1.0), {"elements": [1, 2, 3]}

    return {"expt_gap": constant, "expt_is_metal": MB.run_task(metal, by_elements, "elements")}


INFO = S.EntryInfo(
    algorithm="constant-test",
    description="A constant, for the tests.",
    learned_from=("nothing",),
    references=(S.REFERENCES["matbench"],),
)


def _doc(folder):
    with gzip.open(folder / "results.json.gz", "rt") as fh:
        return json.load(fh)


def _rewrite(folder, doc, rehash=True):
    if rehash:
        doc["hash"] = S.document_hash({k: v for k, v in doc.items() if k != "hash"})
    with gzip.open(folder / "results.json.gz", "wt") as fh:
        json.dump(doc, fh)


def test_matbench_reads_our_folder_and_we_re_score_it(tmp_path, runs):
    """Matbench 0.6's own ``MatbenchBenchmark.from_dict`` (hash, keys, the published test ids
    of every fold, value types) accepts the document, and its per-fold scores are ours."""
    from matbench.bench import MatbenchBenchmark

    folder = S.write_submission(tmp_path / "sub", list(runs.values()), INFO)
    assert sorted(p.name for p in folder.iterdir()) == ["info.json", "results.json.gz"]
    info = json.loads((folder / "info.json").read_text())
    assert set(S.INFO_KEYS) <= set(info) and all(info[k] for k in S.INFO_KEYS)
    assert any(r.startswith("lightgbm==") for r in info["requirements"]["python"])
    bench = MatbenchBenchmark.from_dict(_doc(folder))
    for name, run in runs.items():
        task = bench.tasks_map[MB.TASKS[name].matbench_name]
        metric = MB.TASKS[name].metric
        assert np.isclose(task.scores[metric]["mean"], run.mean())
    table = S.check_submission(folder)
    assert len(table) == 10 and np.allclose(table["recorded"], table["re-scored"])


def _moved_row(doc):
    fold0 = doc["tasks"]["matbench_expt_gap"]["results"]["fold_0"]["data"]
    fold1 = doc["tasks"]["matbench_expt_gap"]["results"]["fold_1"]["data"]
    key = next(iter(fold0))
    fold1[key] = fold0.pop(key)


def _changed_prediction(doc):
    data = doc["tasks"]["matbench_expt_gap"]["results"]["fold_2"]["data"]
    data[next(iter(data))] += 1.0


def _probability_above_one(doc):
    data = doc["tasks"]["matbench_expt_is_metal"]["results"]["fold_0"]["data"]
    data[next(iter(data))] = 1.5


@pytest.mark.parametrize(
    ("change", "rehash", "message"),
    [
        (_changed_prediction, False, "hash does not match"),
        (_changed_prediction, True, "recorded scores differ"),
        (_moved_row, True, "not the published fold"),
        (lambda d: d.pop("version"), True, "keys"),
        (_probability_above_one, True, "neither a label nor a probability"),
    ],
)
def test_a_folder_that_disagrees_with_itself_or_the_folds_is_refused(
    tmp_path, runs, change, rehash, message
):
    folder = S.write_submission(tmp_path / "sub", list(runs.values()), INFO)
    doc = _doc(folder)
    change(doc)
    _rewrite(folder, doc, rehash)
    with pytest.raises(InputError, match=message):
        S.check_submission(folder)


def test_a_submission_folder_is_written_whole_or_not_at_all(tmp_path, runs):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    with pytest.raises(InputError, match="other files"):
        S.write_submission(other, [runs["expt_gap"]], INFO)
    assert (other / "todo.txt").read_text() == "mine"
    bad = S.EntryInfo("x", "too short a name", (), ())
    with pytest.raises(InputError, match="5–15 characters"):
        S.write_submission(tmp_path / "new", [runs["expt_gap"]], bad)
    assert not (tmp_path / "new").exists()


def test_every_entry_the_study_runs_is_registered_with_its_definition():
    """The runners' labels are registry entries (a run that is not registered fails on the
    page), each task has one submitted entry with a description, and the registry names a
    real commit for every entry once committed."""
    from bandgaps.analyses import measured as Me
    from bandgaps.analyses.expt_gap_cleaned import CLEANED_ENTRY
    from bandgaps.analyses.expt_is_metal_chosen import CHOSEN_ENTRY
    from bandgaps.analyses.mp_gap import MP_GAP_ENTRY
    from bandgaps.analyses.mp_gap_gated import GATED_ENTRY

    ran = [("mp_gap", MP_GAP_ENTRY), ("mp_gap", GATED_ENTRY)]
    ran += [("expt_gap", e.label) for e in (*Me.EXPT_GAP_ENTRIES, Me.COMMITTEE)]
    ran += [("expt_is_metal", e.label) for e in (*Me.EXPT_IS_METAL_ENTRIES,)]
    ran += [("expt_is_metal", CHOSEN_ENTRY), ("expt_gap", CLEANED_ENTRY)]
    registered = {(e.task, e.label) for e in R.load_registry() if e.role != "candidate"}
    assert set(ran) == registered
    assert R.entry_for("expt_is_metal", CHOSEN_ENTRY).role == "submitted"
    assert R.entry_for("expt_gap", CLEANED_ENTRY).role == "submitted"
    assert R.entry_for("mp_gap", GATED_ENTRY).role == "submitted"
    with pytest.raises(InputError, match="not registered"):
        R.entry_for("expt_gap", "tuned on the test folds")
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", R.REGISTRY.name],
        cwd=R.REGISTRY.parent,
        capture_output=True,
    )
    if tracked.returncode == 0:  # a checkout with the registry committed (as CI's clone)
        reg = R.registration("expt-gap-committee")
        assert len(reg.commit) >= 7 and reg.date[:2] == "20"
    table = R.registry_table({"expt-gap-committee": "0.2550 eV MAE"})
    assert len(table) == len(R.load_registry())
    assert (table["score"] == "not scored yet").sum() == sum(
        e.role == "candidate" for e in R.load_registry()
    )


def test_a_malformed_registry_is_one_clear_error(tmp_path):
    bad = tmp_path / "registry.toml"
    bad.write_text(
        '[[entry]]\nid = "a"\ntask = "mp_gap"\nlabel = "x"\nalgorithm = "abc"\nrole = "kept"\n'
        'features = "f"\nmodel = "m"\nchoices = []\nlearned_from = []\n'
        "registered_after_scoring = false\n"
    )
    with pytest.raises(InputError, match=r"'a'.*role 'kept'.*algorithm name.*no choices"):
        R.load_registry(bad)
    bad.write_text("[[entry]\n")
    with pytest.raises(InputError, match="cannot be read"):
        R.load_registry(bad)
