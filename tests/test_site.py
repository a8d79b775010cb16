"""The deliverable: the whole site builds with ``mkdocs build --strict`` and its pages carry the
executed figures; an error in any cell fails the build. Skip with ``-m "not site"``."""

import gzip
import json
import re
import shutil
import time

import pytest
from conftest import build_site

from bandgaps.analyses import composition as C
from bandgaps.analyses import discussion as D
from bandgaps.analyses import targets as T
from bandgaps.config import project_root

pytestmark = pytest.mark.site

#: Published figures the pages must show, as the registry holds them (matbench's from its data).
COMPOSITION_FIGURES = [
    f"{T.published('reference-rf-all'):.3f}",
    f"{T.published('reference-rf-nonmetal'):.3f}",
]
#: The published mp_gap entries as the composition page's table prints them.
MATBENCH_FIGURES = [f"{v:.4f}" for v in C.matbench_published().values()]
KSPACING_FIGURES = [
    str(T.published(k)) for k in ("kspacing-rf", "kspacing-crabnet", "jarvis-leaderboard")
]
#: The tasks the Benchmarks page submits an entry to.
MB_TASKS = ("mp_gap", "expt_gap", "expt_is_metal")


def test_home_page_states_the_question_and_the_caveats(built_site):
    html = (built_site / "index.html").read_text()
    for fragment in [
        "Can machine learning predict band gaps",
        "PBE underestimates",
        "covariate shift",
        "Si–Ge",
    ]:
        assert fragment in html


def test_data_page_has_its_figures_and_computed_numbers(built_site):
    html = (built_site / "data.html").read_text()
    figures = re.findall(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]{2000,})', html)
    assert len(figures) >= 4  # gap histogram, periodic table, top elements, cleaning stages
    assert "5,909 materials" in html and "4,249" in html
    assert "drop_isolated_atoms" in html and "keep_lowest_energy_polymorph" in html
    # no stderr output cell (warnings, progress bars) and no traceback leaked into the page
    assert not re.search(r'<div[^>]*data-mime-type="application/vnd.jupyter.stderr"', html)
    assert "Traceback" not in html


def test_an_error_in_any_cell_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# ok\n")
    (docs / "broken.py").write_text("# %% [markdown]\n# # Broken\n\n# %%\n1 / 0\n")
    config = tmp_path / "mkdocs.yml"
    original = (project_root() / "mkdocs.yml").read_text()
    hook = "bandgaps/buildlog.py"  # relative to the config file: point at the project's copy
    original = original.replace(hook, str(project_root() / hook))
    config.write_text(
        re.sub(r"nav:\n(  .*\n)+", "nav:\n  - Home: index.md\n  - Broken: broken.py\n", original)
    )
    result = build_site(config, tmp_path / "site")
    assert result.returncode != 0
    assert "ZeroDivisionError" in result.stdout + result.stderr
    shutil.rmtree(tmp_path / "site", ignore_errors=True)


PAGE = """# %% [markdown]
# # Counted

# %%
from pathlib import Path

from bandgaps.cache import Stage

runs = Path({runs!r})
runs.write_text(runs.read_text() + "x" if runs.exists() else "x")
value = Stage("page-cache-demo", "bandgaps.files")({{"n": 3}}, lambda: 3 * 7)
print("value", value, "{tag}")
"""


def test_an_unchanged_page_is_reused_and_a_changed_one_runs(tmp_path, monkeypatch):
    from bandgaps import buildlog, cache

    monkeypatch.setenv("BANDGAPS_CACHE", str(tmp_path / "cache"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# ok\n")
    runs = tmp_path / "runs.txt"
    page = docs / "counted.py"
    page.write_text(PAGE.format(runs=str(runs), tag="first"))
    config = tmp_path / "mkdocs.yml"
    original = (project_root() / "mkdocs.yml").read_text()
    hook = "bandgaps/buildlog.py"
    original = original.replace(hook, str(project_root() / hook))
    config.write_text(
        re.sub(r"nav:\n(  .*\n)+", "nav:\n  - Home: index.md\n  - Counted: counted.py\n", original)
    )

    def build() -> tuple[str, dict]:
        result = build_site(config, tmp_path / "site")
        assert result.returncode == 0, result.stderr[-3000:]
        return (tmp_path / "site" / "counted.html").read_text(), buildlog.read_log()[-1]

    html, record = build()
    assert runs.read_text() == "x" and "value 21 first" in html and record["pages reused"] == []
    html_again, record = build()  # nothing changed: the kept page is served, not run
    assert (
        runs.read_text() == "x" and html_again == html and record["pages reused"] == ["counted.py"]
    )
    page.write_text(PAGE.format(runs=str(runs), tag="second"))  # the page's text changed
    html, record = build()
    assert runs.read_text() == "xx" and "value 21 second" in html and record["pages reused"] == []
    for entry in (cache.results_dir() / "page-cache-demo").glob("*.pkl"):
        entry.unlink()  # a result the page read is gone: it runs again and recomputes it
    html, record = build()
    assert (
        runs.read_text() == "xxx" and record["stages computed"]["page-cache-demo"]["computed"] == 1
    )


def _figures(html: str) -> list[str]:
    return re.findall(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]{2000,})', html)


@pytest.mark.parametrize(
    "page",
    [
        "data",
        "composition",
        "si_ge_composition",
        "structure",
        "si_ge_supercells",
        "kspacing",
        "benchmarks",
        "screening",
        "discussion",
        "reproducibility",
    ],
)
def test_executed_pages_have_no_error_or_stderr_output(built_site, page):
    html = (built_site / f"{page}.html").read_text()
    assert not re.search(r'<div[^>]*data-mime-type="application/vnd.jupyter.stderr"', html)
    assert "Traceback" not in html
    assert "WARNING:" not in html and "retracing" not in html  # e.g. TensorFlow's logged ones


def test_composition_page_reports_test_maes_beside_published(built_site):
    html = (built_site / "composition.html").read_text()
    # 2 parity plots, σ calibration, conformal coverage, adaptive groups/width, σ before and
    # after, held-out families
    assert len(_figures(html)) >= 7
    assert re.search(r"of the metals and <strong>\d+\.\d%</strong> of the non-metals", html)
    assert re.search(r"Spearman ρ = <strong>0\.\d\d</strong>", html)
    assert re.search(r"Over all held-out families the adaptive 90 % interval covers", html)
    assert "ρ distance" in html and "MAE flagged" in html
    for published in COMPOSITION_FIGURES + MATBENCH_FIGURES:
        assert published in html
    # the official folds' fits, calibrated inside each fold; the CrabNet split is retired
    assert re.search(r"Over the five official folds the model reaches <strong>0\.\d{4} eV", html)
    assert "calibration rows" in html and "test0" not in html and "val0" not in html


def test_si_ge_page_has_sweep_and_table(built_site):
    html = (built_site / "si_ge_composition.html").read_text()
    assert len(_figures(html)) >= 1
    assert "Si49Ge51 between Si and Ge" in html and "MAE vs experiment" in html


def test_structure_page_evaluates_and_trains(built_site):
    html = (built_site / "structure.html").read_text()
    assert len(_figures(html)) >= 2  # parity + classifier histogram, learning curve
    assert f"{T.published('megnet-2018'):.2f} eV" in html and "MEGNet trained here" in html
    assert re.search(r"Test MAE <strong>\d\.\d{3} eV</strong>", html)


def test_supercell_page_has_sweep_table_and_verdict(built_site):
    html = (built_site / "si_ge_supercells.html").read_text()
    assert len(_figures(html)) >= 2
    assert "MAE vs experiment (eV)" in html and "disordered cell" in html
    assert re.search(r"which (meets|misses) the 0\.10 eV goal", html)


def test_kspacing_page_reports_test_mae_and_unsafe_share(built_site):
    html = (built_site / "kspacing.html").read_text()
    # target histogram, parity pair, safety trade-off, adaptive trade-off
    assert len(_figures(html)) >= 4
    assert re.search(r"It (meets|misses) the \+250 % target", html)
    for published in KSPACING_FIGURES:
        assert published in html
    assert re.search(r"Our random forest scores MAE <strong>\d+\.\d\d Å", html)
    assert "would get a grid coarser than the converged one" in html


def test_discussion_page_compares_with_published_and_concludes(built_site):
    html = (built_site / "discussion.html").read_text()
    assert len(_figures(html)) >= 2  # benchmark bars, Si–Ge curves and distances
    networks = [f"{C.matbench_published()[n]:.3f}" for n in D.PUBLISHED_NETWORKS]
    for published in [
        *COMPOSITION_FIGURES,
        *networks,
        f"{T.published('megnet-2018'):.2f}",
        KSPACING_FIGURES[0],
        "badly disagree",
    ]:
        assert published in html
    assert re.search(r"<strong>\d+ of \d+</strong> models place the alloy between", html)
    assert re.search(r"which (meets|misses) the 0\.10 eV goal", html)
    for section in ["The data and its limits", "Results", "What the results mean", "Further work"]:
        assert section in html
    assert "Weber" in html and "Phys. Rev. B 40" in html


def test_benchmarks_page_scores_three_tasks_beside_the_leaderboard(built_site):
    html = (built_site / "benchmarks.html").read_text()
    assert len(_figures(html)) >= 4  # three leaderboards and the Si–Ge figure
    assert "test rows identical" in html and "largest difference from the leaderboard" in html
    for entry in ["darwin", "CrabNet", "Finder_v1.2_composition", "median of the gated variants"]:
        assert entry in html
    assert re.search(r"Our five-fold mean with the gate: <strong>0\.\d{4} eV", html)
    # the registered entries' choices, fold by fold
    assert "calibration MAE, ungated" in html and "inner: + reports" in html
    assert "A rule for rows that are not fundamental gaps" in html and "excess (eV)" in html
    assert re.search(r"The cleaned committee scores <strong>0\.\d{4} eV", html)
    assert re.search(r"scores <strong>0\.\d{4} eV</strong> \(five-fold mean; folds", html)
    assert re.search(r"balanced accuracy of <strong>0\.\d{4}</strong>", html)
    assert re.search(r"<strong>0\.\d{3} eV</strong> from the 4\.2 K curve", html)
    assert "Where we stand against the targets" in html
    assert "Varshni" in html
    # the measured-gap model's conformal sets, scored fold by fold within metals / non-metals
    assert "How sure is a measured gap?" in html and "90 % interval (eV)" in html
    assert re.search(r"covers <strong>\d+\.\d%</strong> and <strong>\d+\.\d%</strong>", html)


def test_benchmarks_page_writes_three_submission_folders_matbench_reads(built_site):
    """The page registers every entry with its commit and writes one submission folder per
    task; read back here, each passes Matbench's own reader and re-scores on the published
    folds to the recorded scores."""
    from matbench.bench import MatbenchBenchmark

    from bandgaps.analyses import registry as R
    from bandgaps.analyses import submission as S
    from bandgaps.config import cache_dir

    html = (built_site / "benchmarks.html").read_text()
    assert "Registered entries" in html and "Submission folders" in html
    for entry in R.load_registry():
        assert entry.id in html
    assert html.count("not scored yet") >= sum(e.role == "candidate" for e in R.load_registry())
    folders = sorted((cache_dir() / "matbench" / "submissions").iterdir())
    assert [f.name for f in folders] == sorted(
        S.folder_name(S.entry_info(R.submitted_entry(t))) for t in MB_TASKS
    )
    for folder in folders:
        table = S.check_submission(folder)
        assert len(table) == 5 and (table["recorded"] - table["re-scored"]).abs().max() < 1e-9
        with gzip.open(folder / "results.json.gz", "rt") as fh:
            MatbenchBenchmark.from_dict(json.load(fh))
        assert folder.name in html


def test_the_named_measured_gap_model_learned_from_every_report(built_site):
    """The named model the build leaves was trained on every composition of the reports; it
    flags elements (the source has none) and holds the semiconductors Matbench dropped in its
    domain; the page measured it on those compositions, held out."""
    from bandgaps.models import named

    model, card = named.load_named("measured-gap")
    assert card.training_data["compositions"] > 4900
    assert "zhuo2018-expt-gap-all-reports" in card.training_data["source"]
    # calibrated on the official folds' out-of-fold rows and the held-out dropped ones
    assert len(model.intervals_.y_) == card.training_data["calibration rows"] > 4900
    table = named.predict_named("measured-gap", ["GaAs", "ZnO", "C", "Kr", "Si"])
    flags = dict(zip(table["formula"], table["in domain"], strict=True))
    assert flags["GaAs"] and flags["ZnO"]
    assert not (flags["C"] or flags["Kr"] or flags["Si"])
    html = (built_site / "benchmarks.html").read_text()
    assert "The named model learns from every measured gap" in html
    assert re.search(r"is <strong>\d\.\d{3} eV</strong> from\s+the median report", html)


def test_screening_page_screens_a_space_and_measures_the_engine(built_site):
    html = (built_site / "screening.html").read_text()
    assert len(_figures(html)) >= 2  # gap distributions and throughput/memory
    assert re.search(r"<strong>[\d,]+ formulas</strong>\. Both named models", html)
    assert re.search(r"<strong>[\d,]+ formulas</strong> \([\d.]+% of the space\)", html)
    assert "composition screen, 1,000,000 formulas" in html and "structures/s" in html
    assert re.search(r"left\s+0 rows in the errors table", html)


def test_cli_predicts_measured_gaps_with_the_models_the_build_left(built_site, capsys):
    """After the build, `bandgaps predict measured-gap …` needs no training command."""
    from bandgaps.cli import main
    from bandgaps.models import named

    assert all(named.is_current(named.model_path(n)) for n in named.NAMED)
    t0 = time.perf_counter()
    code = main(["predict", "measured-gap", "Si", "Ge", "Si49Ge51", "GaAs", "ZnO", "--csv"])
    seconds = time.perf_counter() - t0
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and seconds < 60
    assert out[0].startswith("formula,measured gap (eV)")
    gaps = {line.split(",")[0]: float(line.split(",")[1]) for line in out[1:]}
    assert set(gaps) == {"Si", "Ge", "Si49Ge51", "GaAs", "ZnO"}
    assert gaps["ZnO"] > 2.0 and gaps["GaAs"] > 0.8  # wide and medium measured gaps


def test_a_screen_with_measured_gap_writes_what_predict_prints(built_site, capsys):
    """The screen's worker function and `bandgaps predict` give one table for the named
    measured-gap model: its value, σ, the 90 % set, the metal probability and the domain."""
    import io

    import numpy as np
    import pandas as pd

    from bandgaps.cli import main
    from bandgaps.screening.predictors import predict_partition, resolve_models
    from bandgaps.screening.sources import Partition

    formulas = ["Si", "GaAs", "ZnO", "Cu", "KrXe"]
    specs = resolve_models(["measured-gap"], "formulas")
    screened, errors = predict_partition(Partition(0, 0, formulas), specs, "formulas")
    assert len(errors) == 0
    assert main(["predict", "measured-gap", *formulas, "--csv"]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert {"σ", "lower 0.9", "upper 0.9", "domain score", "in domain"} <= set(printed.columns)
    assert [f"measured-gap: {c}" for c in printed.columns[1:]] == list(screened.columns[2:])
    for column in printed.columns[1:]:
        ours = screened[f"measured-gap: {column}"]
        if ours.dtype == bool:
            assert list(ours) == list(printed[column])
        else:
            np.testing.assert_allclose(ours, printed[column], rtol=1e-3, atol=1e-6)


def test_reproducibility_page_shows_the_measured_cold_build(site_builds):
    from bandgaps import buildlog

    html = (site_builds.site / "reproducibility.html").read_text()
    log = buildlog.read_log()
    cold, warm = log[-2:]
    assert (cold["kind"], warm["kind"]) == ("cold", "warm")
    # the second build's page reports the first build's measured time, read from the log
    shown = re.search(r"Latest <strong>cold</strong> build: <strong>(\d+\.\d) min", html)
    assert shown and float(shown.group(1)) == round(cold["seconds"] / 60, 1)
    assert "every checksum matched" in html and "The seed in this build" in html
    assert len(_figures(html)) >= 2  # stage timings, per-page build times


def test_warm_rebuild_recomputes_nothing(site_builds):
    from bandgaps import buildlog
    from bandgaps.analyses.reproducibility import GOALS

    warm = buildlog.read_log()[-1]
    assert warm["kind"] == "warm", "the second build computed something its first build cached"
    assert warm["cache_entries_after"] == warm["cache_entries_before"]
    # the page reports the warm build against GOALS["warm"]; this guards against regressions
    assert site_builds.warm_seconds < max(GOALS["warm"] * 1.5, 180), site_builds.warm_seconds


def test_api_reference_renders_docstrings_and_examples(built_site):
    html = (built_site / "api" / "models.html").read_text()
    for name in [
        "UncertainForestRegressor",
        "BoostedRegressor",
        "PretrainedEnsemble",
        "MEGNetRegressor",
    ]:
        assert name in html
    assert '<span class="gp">&gt;&gt;&gt; </span>' in html  # doctest examples as code
    for page in ["data", "features", "structures", "analyses", "infrastructure"]:
        assert "doc doc-heading" in (built_site / "api" / f"{page}.html").read_text()
