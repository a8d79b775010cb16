"""The build log (cold/warm build times) and the reproducibility page's tables."""

from types import SimpleNamespace

import pytest

from bandgaps import buildlog, cache
from bandgaps.analyses import reproducibility as R
from bandgaps.config import cache_dir


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BANDGAPS_CACHE", str(tmp_path / "cache"))
    return cache_dir()


def _page(src):
    return SimpleNamespace(file=SimpleNamespace(src_uri=src))


DEMO = cache.Stage("demo-build", "bandgaps.files")


def _build(pages: dict[str, int], tag: str):
    """Drive the hook's events as mkdocs would; each page computes ``n`` new stage results."""
    buildlog.on_pre_build(config={})
    for src, n in pages.items():
        page = _page(src)
        buildlog.on_pre_page(page, config={}, files=None)
        for k in range(n):
            DEMO({"tag": tag, "page": src, "k": k}, lambda k=k: k)
        current = buildlog.read_current()
        assert current is not None and src not in current["pages"]
        buildlog.on_page_content("<p/>", page, config={}, files=None)
        assert src in buildlog.read_current()["pages"]
    buildlog.on_post_build(config={})


def test_hook_records_cold_then_warm_then_partial(fresh_cache):
    assert buildlog.read_log() == [] and buildlog.read_current() is None
    _build({"index.md": 0, "a.py": 2}, "first")
    _build({"index.md": 0, "a.py": 0}, "second")
    _build({"index.md": 0, "a.py": 1}, "third")
    log = buildlog.read_log()
    assert [r["kind"] for r in log] == ["cold", "warm", "partial"]
    assert log[0]["cache_entries_after"] == 2 and set(log[0]["pages"]) == {"index.md", "a.py"}
    # which stages each build computed, and nothing pruned: every entry is current
    assert [r["stages computed"].get("demo-build", {}).get("computed") for r in log] == [2, None, 1]
    assert [r["pruned"] for r in log] == [0, 0, 0] and cache.entries() == 3
    costs = R.stage_costs()
    assert costs.set_index("stage").loc["demo-build", "entries"] == 3
    assert all(r["seconds"] >= 0 for r in log)
    assert buildlog.read_current() is None  # removed when a build completes
    assert buildlog.latest("warm", log) is log[1]
    history = R.build_history(log)
    assert list(history["kind"]) == ["cold", "warm", "partial"]
    pages = R.page_times(log)
    assert list(pages.columns) == ["cold build (s)", "warm build (s)"]
    assert set(pages.index) == {"index.md", "a.py"}


def test_log_is_bounded_and_survives_corruption(fresh_cache):
    for i in range(buildlog.KEEP + 5):
        buildlog.append_record({"kind": "warm", "seconds": i})
    log = buildlog.read_log()
    assert len(log) == buildlog.KEEP and log[-1]["seconds"] == buildlog.KEEP + 4
    buildlog.log_path().write_text("{not json")
    assert buildlog.read_log() == []
    assert R.build_history().empty


def test_environment_and_checksums():
    env = R.environment().set_index("component")["version"]
    import numpy

    assert env["numpy"] == numpy.__version__
    assert env["megnet"] == "1.3.2" and env["tensorflow-cpu"].startswith("2.15")
    sums = R.checksums()
    assert {"mp-bandstructure-binaries", "matbench-mp-gap-train"} <= set(sums["entry"])
    assert sums["sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert (sums["MiB"] > 0).all()


def test_checksums_name_a_corrupt_file(shared_copy):
    from bandgaps.data import catalog
    from bandgaps.errors import SnapshotError

    files = [rel for name in catalog.names() for rel, _ in catalog.get(name).files]
    root = shared_copy(*files)
    target = root / catalog.get("jarvis-kpoint-length-val").path
    target.write_text(target.read_text() + "Fe,1.0\n")
    with pytest.raises(SnapshotError, match="Checksum mismatch for 'jarvis-kpoint-length-val'"):
        R.checksums()


def test_featurization_benchmark_measures_three_ways():
    formulas = ["Si", "GaAs", "NaCl", "Fe2O3", "SiGe"] * 40
    bench = R.featurization_benchmark(formulas, matminer_rows=10)
    assert list(bench["formulas"]) == [10, 200, 200]
    assert (bench["seconds"] > 0).all() and (bench["formulas/s"] > 0).all()


def test_model_file_checks_measure_flips_and_crafted_files():
    checks = R.model_file_checks(n_rows=120, n_flips=60)
    assert checks["flips detected"] == checks["bit flips"] == 60
    assert checks["crafted refused"] == checks["crafted files"] == 3
    assert checks["crafted that ran code"] == 0
    assert 10_000 < checks["file bytes"] < 1_000_000


def test_page_budgets_cover_every_executed_page_and_add_up_to_the_cold_goal():
    import yaml

    from bandgaps.buildlog import _nav_paths
    from bandgaps.config import project_root

    nav = yaml.safe_load((project_root() / "mkdocs.yml").read_text())["nav"]
    executed = [p for p in _nav_paths(nav) if p.endswith(".py")]
    assert set(R.PAGE_BUDGETS) == set(executed)
    assert sum(R.PAGE_BUDGETS.values()) == R.GOALS["cold"]
    # the Reproducibility page runs last, so it sees every stage of the build
    assert executed[-1] == "reproducibility.py"
