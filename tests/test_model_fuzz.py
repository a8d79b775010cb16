"""Model files from anyone: crafted LightGBM text, archives that would unpack to gigabytes and a
structure-aware fuzzer, each read in a child process that must never crash, stall or swell.

``FUZZ_EXAMPLES`` scales the number of mutants (``benchmarks/fuzz_model_files.py`` runs 10,000
and more).
"""

from __future__ import annotations

import os

import pytest
from model_fuzzer import make_seeds, memory_budget, pack, run_mutants, unpack, write_mutants

from bandgaps.models.persist import MAX_UNPACKED

SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
MiB = 2**20


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Genuine files of four kinds: a calibrated LightGBM model (boosters as text), a
    calibrated forest (trees as arrays), each with its intervals and domain, a calibrated
    measured-gap committee (PBE reference, gates, lookup, intervals, domain) and a gated PBE
    gap model."""
    return make_seeds(tmp_path_factory.mktemp("fuzz-seeds"))


def _booster_edit(seeds, folder, name, edit):
    head, members = unpack(seeds[0])
    member = next(m for m in members if m.endswith("booster-point-0.txt"))
    members[member] = edit(members[member].decode()).encode()
    path = folder / f"{name}.model"
    path.write_bytes(pack(head, members))
    return path, name


def _replace_field(text: str, key: str, value: str, tree: int | None = None) -> str:
    lines = text.split("\n")
    start = 0 if tree is None else lines.index(f"Tree={tree}")
    for i in range(start, len(lines)):
        if lines[i].startswith(f"{key}="):
            lines[i] = f"{key}={value}"
            return "\n".join(lines)
    raise AssertionError(key)


def _field(text: str, key: str, tree: int = 0) -> list[str]:
    lines = text.split("\n")
    start = lines.index(f"Tree={tree}")
    return next(ln for ln in lines[start:] if ln.startswith(f"{key}=")).split("=", 1)[1].split()


def _first_split_tree(text: str) -> int:
    k = 0
    while int(_field(text, "num_leaves", k)[0]) < 3:
        k += 1
    return k


def test_crafted_lightgbm_text_is_refused_before_lightgbm_reads_it(seeds, tmp_path):
    """The issue's reproductions: each crashed, aborted or hung LightGBM's own loader."""
    text = unpack(seeds[0])[1]["booster-point-0.txt"].decode()
    k = _first_split_tree(text)
    left = _field(text, "left_child", k)
    thresholds = _field(text, "threshold", k)

    def field(key, value, tree=k):
        return lambda t: _replace_field(t, key, value, tree)

    def child(value):
        return field("left_child", " ".join([value, *left[1:]]))

    cases = [
        ("child-out-of-range", child("1000000")),
        ("leaf-out-of-range", child("-1000000")),
        ("left-child-is-itself", child("0")),
        ("huge-num-tree-per-iteration", field("num_tree_per_iteration", "2147483647", None)),
        ("huge-tree-sizes", field("tree_sizes", " ".join(["999999999"] * 12), None)),
        ("huge-num-leaves", field("num_leaves", "2147483647")),
        ("nan-threshold", field("threshold", " ".join(["nan", *thresholds[1:]]))),
        ("feature-out-of-range", field("split_feature", " ".join(["99999"] * len(left)))),
        ("categorical-split", field("num_cat", "1")),
        ("cut-short", lambda t: t[: len(t) // 2]),
    ]
    mutants = [_booster_edit(seeds, tmp_path, name, edit) for name, edit in cases]
    report = run_mutants(mutants, seeds, memory_budget(seeds), stall_seconds=60)
    assert report.findings == [] and report.refused == len(cases), report


def test_archives_that_would_unpack_past_their_ceiling_are_refused_unread(seeds, tmp_path):
    """A card that inflates to 1 GB, a booster of 300 MB, a forest of 600 MB (within the
    member's ceiling, past what the model's trees and rows can need), an unknown member, deep
    nesting: refused from the archive's directory (or the JSON parser) within the memory
    budget."""
    head, members = unpack(seeds[0])
    cases = {
        "card-bomb": {**members, "card.json": b" " * (1024 * MiB)},
        "booster-bomb": {**members, "booster-point-0.txt": b"0" * (300 * MiB)},
        "unknown-member": {**members, "../../escape.txt": b"x"},
        "deep-json": {**members, "model.json": b"[" * 200_000 + b"]" * 200_000},
    }
    # a forest's arrays within the member's ceiling but past what its 4 trees on 360 rows need
    forest_head, forest = unpack(seeds[1])
    cases["forest-bomb"] = {**forest, "forest.npz": b"\0" * (600 * MiB)}
    mutants = []
    for name, content in cases.items():
        path = tmp_path / f"{name}.model"
        path.write_bytes(pack(forest_head if name == "forest-bomb" else head, content))
        mutants.append((path, name))
    assert (tmp_path / "card-bomb.model").stat().st_size < 8 * MiB  # the bomb: small on disk
    report = run_mutants(mutants, seeds, memory_budget(seeds), stall_seconds=60)
    assert report.findings == [] and report.refused == len(cases), report
    assert MAX_UNPACKED < 2**31


def test_fuzzed_model_files_never_crash_hang_or_swell(seeds, tmp_path):
    """Structure-aware mutants of all three kinds (fields of the JSON, arrays, LightGBM tokens and
    lines, flipped bits, members dropped or added), each re-signed: every one loads and predicts
    or is refused with one line; none crashes, stalls or grows memory past the budget."""
    n = max(50, int(400 * SCALE))
    mutants = write_mutants(seeds, n, tmp_path / "mutants", seed=7)
    report = run_mutants(mutants, seeds, memory_budget(seeds), stall_seconds=60)
    assert report.total == n
    assert report.findings == [], report.findings[:10]
    # the mutants reach the parsers: most are refused, some still load (benign changes)
    assert report.refused > n / 2 and report.loaded > 0, report


def test_an_empty_or_non_finite_interval_table_is_refused(seeds, tmp_path):
    """The calibration rows behind the intervals: none, or a NaN among them, is refused with
    one line at load (it would give no interval, or a NaN one, at the first prediction)."""
    import io

    import numpy as np

    head, members = unpack(seeds[1])
    mutants = []
    for name, fill in (("empty", lambda a: a[:0]), ("nan", lambda a: np.where(a == a, np.nan, a))):
        with np.load(io.BytesIO(members["intervals.npz"])) as arrays:
            edited = {k: fill(arrays[k]) for k in arrays.files}
        buf = io.BytesIO()
        np.savez(buf, **edited)
        path = tmp_path / f"{name}.model"
        path.write_bytes(pack(head, {**members, "intervals.npz": buf.getvalue()}))
        mutants.append((path, name))
    report = run_mutants(mutants, seeds, memory_budget(seeds), stall_seconds=60)
    assert report.findings == [] and report.refused == len(mutants), report
