"""A structure-aware fuzzer for bandgaps model files (``bandgaps.models.persist``).

Each mutant changes one thing in a genuine file the way an attacker could — a field of
``card.json`` or ``model.json``, an array of an ``.npz`` member, a token or line of a LightGBM
text, or a byte anywhere in a member — and is re-signed, so the file's checksum passes and the
mutation reaches the parsers. ``run_mutants`` reads every mutant (and predicts with it when it
loads) in a child process under a memory ceiling, watching it from outside: a mutant that kills
the process (segfault, abort), stalls it or lets it grow past the ceiling is a finding, and the
child is restarted after it.

``tests/test_model_fuzz.py`` runs a few hundred mutants; ``benchmarks/fuzz_model_files.py`` runs
the full campaign (10,000 and more).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Values a JSON field is replaced with: wrong types, extremes, absurd sizes.
ODD_JSON = (
    None,
    True,
    -1,
    0,
    1,
    2**31,
    2**63,
    10**30,
    -(10**30),
    1e308,
    -1e-308,
    0.5,
    "",
    "x",
    "nan",
    "../../etc/passwd",
    "os.system",
    [],
    [1, 2, 3],
    {},
    {"class": "os.system"},
)
#: Tokens a LightGBM number is replaced with.
ODD_TOKENS = (
    "-1",
    "-2",
    "0",
    "1",
    "2",
    "3",
    "255",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "99999999999999999999999",
    "nan",
    "inf",
    "-inf",
    "1e999",
    "-0",
    "x",
    "",
    "0x10",
    "1_0",
)
#: The LightGBM header and tree fields whose values are counts or indices.
INDEX_FIELDS = (
    "num_leaves",
    "num_cat",
    "num_class",
    "num_tree_per_iteration",
    "max_feature_idx",
    "label_index",
    "tree_sizes",
    "left_child",
    "right_child",
    "split_feature",
    "decision_type",
    "is_linear",
)


def unpack(path: Path) -> tuple[bytes, dict[str, bytes]]:
    """``(format line, {member: bytes})`` of a model file."""
    raw = path.read_bytes()
    head, _, rest = raw.partition(b"\n")
    body = rest.partition(b"\n")[2]
    zf = zipfile.ZipFile(io.BytesIO(body))
    return head, {name: zf.read(name) for name in zf.namelist()}


def pack(head: bytes, members: dict[str, bytes]) -> bytes:
    """A signed model file of ``members`` (as ``save_model`` writes one)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    body = out.getvalue()
    return head + b"\n" + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def make_seeds(folder: Path, rows: int = 400) -> list[Path]:
    """Genuine model files to mutate: a calibrated LightGBM model (boosters as text), a
    calibrated forest (trees as arrays), each with its intervals and domain, and a calibrated
    measured-gap committee, trained on the first ``rows`` rows of matbench ``mp_gap`` val0."""
    from bandgaps.data.tables import load_table
    from bandgaps.features.composition import get_feature_set
    from bandgaps.models.calibrated import CalibratedCompositionModel
    from bandgaps.models.persist import ModelCard, save_model

    df = load_table("matbench-mp-gap-val").head(rows)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for kind, params in (
        ("lgbm", {"n_estimators": 12, "num_leaves": 7}),
        ("rf", {"n_estimators": 4}),
    ):
        model = CalibratedCompositionModel(kind, params=params, random_state=0)
        model.fit(list(df["formula"]), df["target"].to_numpy())
        card = ModelCard(
            kind=kind,
            target="band_gap",
            feature_set=get_feature_set("magpie").config(),
            training_data={"rows": rows},
            n_train=rows,
            params=params,
        )
        out.append(save_model(folder / f"{kind}.model", model, card))
    out.append(_measured_gap_seed(folder, df))
    out.append(_pbe_gap_seed(folder, df))
    return out


def _pbe_gap_seed(folder: Path, df) -> Path:
    """A small file of the named ``pbe-gap`` kind: a gated model (gate and Huber regressor)
    with the choice its analysis made and a domain of applicability, built by that analysis's
    own parts."""
    from pymatgen.core import Composition

    from bandgaps.analyses.mp_gap_gated import fit_gated
    from bandgaps.features.composition import CompositionFeatures, get_feature_set
    from bandgaps.models.domain import ApplicabilityDomain
    from bandgaps.models.pbe_gap import PBEGapModel
    from bandgaps.models.persist import ModelCard, save_model
    from bandgaps.models.transfer import GatedGapModel

    small = {"n_estimators": 8, "num_leaves": 7, "min_child_samples": 3}
    X = CompositionFeatures("magpie+fractions").transform(list(df["formula"]))
    y = df["target"].to_numpy(float)
    gate, regressor = fit_gated(X, y, small, 0)
    model = GatedGapModel(threshold=0.4, regressor_params=small, gate_params=small)
    model.gate_, model.regressor_, model.n_features_in_ = gate, regressor, X.shape[1]
    domain = ApplicabilityDomain(0).fit(X, [Composition(f) for f in df["formula"]])
    domain.calibrate(X, None, np.abs(model.predict(X) - y))
    pbe = PBEGapModel.from_parts("magpie+fractions", model, len(df), {"gate": True}, domain)
    card = ModelCard(
        kind="pbe-gap",
        target="PBE gap (eV)",
        feature_set=get_feature_set("magpie+fractions").config(),
        training_data={"rows": len(df)},
        n_train=len(df),
        params=small,
    )
    return save_model(folder / "pbe-gap.model", pbe, card)


def _measured_gap_seed(folder: Path, df) -> Path:
    """A small measured-gap model file with every part the named one has: a PBE reference, a
    committee of two gated members, the MP lookup, conformal sets and a domain (the
    ``from_state`` of each transfer estimator is fuzzed through it)."""
    import numpy as np

    from bandgaps.features.composition import get_feature_set
    from bandgaps.models.persist import ModelCard, save_model
    from bandgaps.models.transfer import (
        GatedCommittee,
        GatedGapModel,
        MeasuredGapModel,
        MPGapLookup,
        PBEReference,
    )

    formulas, gaps = list(df["formula"]), df["target"].to_numpy()
    small = {"n_estimators": 8, "num_leaves": 7, "min_child_samples": 3, "early_stopping": None}
    ref = PBEReference(params=small).fit(formulas, gaps)
    members = [
        GatedGapModel(regressor_params=small, gate_params=small, random_state=s) for s in (0, 1)
    ]
    model = MeasuredGapModel(ref, model=GatedCommittee(members), lookup=MPGapLookup())
    model.lookup.fit(formulas, gaps)
    model.fit(formulas, gaps)
    X = model.transform(formulas)
    pred, lo, hi = model.predict_band_features(X)
    model.calibrate(formulas, X, gaps, pred, (hi - lo) / 2 + 0.1, np.linspace(0, 1, len(gaps)))
    card = ModelCard(
        kind="measured-gap",
        target="measured gap (eV)",
        feature_set=get_feature_set("magpie+fractions").config(),
        training_data={"rows": len(formulas)},
        n_train=len(formulas),
        params={},
    )
    return save_model(folder / "measured-gap.model", model, card)


def memory_budget(seeds: list[Path]) -> int:
    """What reading one file may add to the reader's peak memory: twice the largest genuine file
    unpacked, plus 200 MB."""
    largest = max(sum(len(v) for v in unpack(p)[1].values()) for p in seeds)
    return 2 * largest + 200 * 2**20


# --- mutations --------------------------------------------------------------------------


def _json_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:20]):
            yield from _json_paths(v, (*prefix, i))


def mutate_json(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    doc = json.loads(data)
    paths = [p for p in _json_paths(doc) if p]
    if not paths:
        return b"[]", "whole document replaced"
    where = rng.choice(paths)
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    last = where[-1]
    op = rng.choice(("replace", "replace", "replace", "delete", "nest", "grow"))
    if op == "delete" and isinstance(parent, dict):
        del parent[last]
    elif op == "nest":
        deep: object = 0
        for _ in range(rng.choice((50, 5000, 100_000))):
            deep = [deep]
        parent[last] = deep
    elif op == "grow":
        parent[last] = [parent[last]] * rng.choice((2, 1000, 100_000))
    else:
        parent[last] = rng.choice(ODD_JSON)
    try:
        text = json.dumps(doc)
    except RecursionError:  # nesting beyond what json writes: write it by hand
        text = "[" * 100_000 + "]" * 100_000
    return text.encode(), f"{op} {'/'.join(map(str, where))[:80]}"


def mutate_npz(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    if not arrays:
        return data, "empty npz"
    name = rng.choice(sorted(arrays))
    a = arrays[name]
    op = rng.choice(("value", "value", "dtype", "shape", "drop", "huge"))
    if op == "drop":
        del arrays[name]
    elif op == "dtype":
        target = rng.choice(("float32", "int8", "int64", "<U3", "bool", "complex128"))
        try:
            arrays[name] = a.astype(target)
        except (TypeError, ValueError):
            arrays[name] = np.zeros(a.shape, target)
    elif op == "shape":
        flat = a.reshape(-1)
        arrays[name] = rng.choice((flat[: len(flat) // 2], np.concatenate([flat, flat]), flat))
    elif op == "huge":
        arrays[name] = np.zeros(
            rng.choice((0, 1, 10**6)), dtype=a.dtype if a.dtype.names is None else "f8"
        )
    elif a.size:
        arrays[name] = _odd_value(a, rng)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue(), f"{op} {name}"


def _odd_value(a: np.ndarray, rng: random.Random) -> np.ndarray:
    """A copy of ``a`` with one entry (one field of one record) set to an odd value."""
    b = a.copy()
    with np.errstate(all="ignore"), contextlib.suppress(OverflowError, ValueError, TypeError):
        flat = b.reshape(-1)
        i = rng.randrange(flat.size)
        if b.dtype.names:
            fname = rng.choice(b.dtype.names)
            kind = b.dtype[fname].kind
            flat[fname][i] = (
                rng.choice((-(2**40), -2, -1, 0, 10**9))
                if kind in "iu"
                else rng.choice((np.nan, np.inf, -1e308, 1e308))
            )
        elif b.dtype.kind in "iu":
            flat[i] = rng.choice((-1, 0, 2**31 - 1, np.iinfo(b.dtype).max, np.iinfo(b.dtype).min))
        elif b.dtype.kind == "f":
            flat[i] = rng.choice((np.nan, np.inf, -np.inf, -1.0, 1e308, 0.0))
        elif b.dtype.kind == "U":
            flat[i] = rng.choice(("", "Si", "Xx", "🙂", "a" * 50))
    return b


def mutate_lgbm(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = data.decode().split("\n")
    # aim mostly at the fields LightGBM trusts: counts, indices, sizes, thresholds
    keyed = [i for i, line in enumerate(lines) if "=" in line]
    hot = [i for i in keyed if lines[i].split("=", 1)[0] in (*INDEX_FIELDS, "threshold")]
    i = rng.choice(hot if hot and rng.random() < 0.8 else keyed or [0])
    key, _, value = lines[i].partition("=")
    tokens = value.split(" ")
    op = rng.choice(("token", "token", "token", "self", "value", "drop-line", "dup-line", "cut"))
    if op == "token" and tokens:
        tokens[rng.randrange(len(tokens))] = rng.choice(ODD_TOKENS)
        lines[i] = f"{key}={' '.join(tokens)}"
    elif op == "self" and key in ("left_child", "right_child") and tokens and tokens[0]:
        k = rng.randrange(len(tokens))
        tokens[k] = str(rng.choice((k, 0, k - 1)))  # a node that is its own child, or a cycle
        lines[i] = f"{key}={' '.join(tokens)}"
    elif op == "value":
        lines[i] = f"{key}={rng.choice(ODD_TOKENS)}"
    elif op == "drop-line":
        del lines[i]
    elif op == "dup-line":
        lines.insert(i, lines[i])
    elif op == "cut":
        return data[: rng.randrange(len(data))], "cut short"
    return "\n".join(lines).encode(), f"{op} {key[:30]} (line {i})"


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return b"\x00", "byte added"
    b = bytearray(data)
    i = rng.randrange(len(b))
    b[i] ^= 1 << rng.randrange(8)
    return bytes(b), f"bit flip at {i}"


def mutate(members: dict[str, bytes], rng: random.Random) -> tuple[dict[str, bytes], str]:
    """One mutant: a structure-aware change to one member (or one member dropped, added, or a
    bit flipped), every other member kept."""
    out = dict(members)
    name = rng.choice(sorted(members))
    roll = rng.random()
    if roll < 0.03:
        del out[name]
        return out, f"{name}: dropped"
    if roll < 0.05:
        out[rng.choice(("extra.bin", "../evil.txt", "booster-point-9.txt"))] = b"x"
        return out, "member added"
    if roll < 0.12:
        out[name], what = mutate_bytes(members[name], rng)
    elif name.endswith(".json"):
        out[name], what = mutate_json(members[name], rng)
    elif name.endswith(".npz"):
        out[name], what = mutate_npz(members[name], rng)
    elif name.endswith(".txt"):
        out[name], what = mutate_lgbm(members[name], rng)
    else:
        out[name], what = mutate_bytes(members[name], rng)
    return out, f"{name}: {what}"


def write_mutants(seeds: list[Path], n: int, folder: Path, seed: int = 0) -> list[tuple[Path, str]]:
    """``n`` mutants of the seed files (round robin) in ``folder``, with what each changed."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    unpacked = [unpack(p) for p in seeds]
    out = []
    for k in range(n):
        head, members = unpacked[k % len(unpacked)]
        mutant, what = mutate(members, rng)
        path = folder / f"mutant-{k:06d}.model"
        path.write_bytes(pack(head, mutant))
        out.append((path, what))
    return out


# --- running ----------------------------------------------------------------------------

#: The child: read each mutant, predict with it when it loads, report one line per mutant.
_CHILD = r"""
import resource, sys, warnings
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
warnings.simplefilter("ignore")
from bandgaps.errors import InputError
from bandgaps.models.persist import load_model
FORMULAS = ["Si", "GaAs", "ZnO", "NaCl"]

def use(path):
    # the one prediction surface every command uses, at one level and one risk
    from pymatgen.core import Composition
    from bandgaps.models import predictor
    model = load_model(path)[0]
    named = type(model).__name__ in ("MeasuredGapModel", "PBEReference", "PBEGapModel")
    p = predictor.Predictor(path, "named" if named else "file", "value", path)
    predictor._LOADED[p.key] = model  # read once, above; dropped after use
    calibrated = getattr(model, "calibrated", False)
    p.predict_table(
        [Composition(f) for f in FORMULAS],
        level=0.9 if calibrated else None,
        risk=0.1 if calibrated else None,
    )
    predictor._LOADED.clear()

for seed in sys.argv[3:]:  # the genuine files first: their peak memory is the baseline
    use(seed)
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("BASE -", peak(), flush=True)
for line in open(sys.argv[2]).read().splitlines():
    path = line.strip()
    print("START", path, flush=True)
    try:
        use(path)
        status = "LOADED"
    except InputError as exc:
        status = "REFUSED" if "\n" not in str(exc) else "MULTILINE"
    except MemoryError:
        status = "MEMORY"
    except BaseException as exc:
        status = "UNEXPECTED"
        print(status, path, type(exc).__name__, str(exc)[:200].replace("\n", " "), flush=True)
        continue
    print(status, path, peak(), flush=True)
"""


_STATUSES = ("BASE", "START", "LOADED", "REFUSED", "MULTILINE", "MEMORY", "UNEXPECTED")


@dataclass
class FuzzReport:
    """What the mutants did: loaded, refused with one clear error, or a finding."""

    loaded: int = 0
    refused: int = 0
    findings: list[tuple[str, str, str]] = field(default_factory=list)  # (path, kind, detail)
    seconds: float = 0.0
    base_rss: int = 0  # the child's peak memory after reading the genuine files (bytes)
    peak_growth: int = 0  # the most any mutant raised it (bytes)

    @property
    def total(self) -> int:
        return self.loaded + self.refused + len(self.findings)


def run_mutants(
    mutants: list[tuple[Path, str]],
    seeds: list[Path],
    memory_budget: int,
    memory_limit: int = 8 * 2**30,
    stall_seconds: float = 60.0,
    env: dict | None = None,
) -> FuzzReport:
    """Read every mutant in a child process (restarted after a crash or a stall) that first
    reads the genuine ``seeds``: a mutant whose reading raises the child's peak memory more
    than ``memory_budget`` bytes above theirs is a finding, as is a crash, a stall, an error
    that is not one ``InputError`` line, or a ``MemoryError`` under the ``memory_limit``
    address-space ceiling."""
    import selectors

    report = FuzzReport()
    what = {str(p): w for p, w in mutants}
    todo = [str(p) for p, _ in mutants]
    t0 = time.perf_counter()
    while todo:
        # the list goes in a file: a pipe would fill both ways and stall parent and child
        listing = Path(todo[0]).parent / "todo.txt"
        listing.write_text("\n".join(todo) + "\n")
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(memory_limit), str(listing), *map(str, seeds)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "BANDGAPS_PROGRESS": "0", **(env or {})},
        )
        sel = selectors.DefaultSelector()
        sel.register(child.stdout, selectors.EVENT_READ)
        current, done, base = None, set(), 0
        while True:
            if not sel.select(timeout=stall_seconds):
                child.kill()
                child.wait()
                report.findings.append((current or todo[0], "stall", what.get(current, "")))
                done.add(current or todo[0])
                break
            line = child.stdout.readline()
            if not line:
                code = child.wait()
                if current is not None and current not in done:
                    report.findings.append((current, f"exit {code}", what.get(current, "")))
                    done.add(current)
                break
            status, path, *detail = [*line.rstrip("\n").split(" ", 2), ""]
            if status not in _STATUSES:  # a library writing to stdout while reading a mutant
                report.findings.append((current or "", "library output", line.strip()[:200]))
                continue
            if status == "BASE":
                base = int(detail[0])
                report.base_rss = max(report.base_rss, base)
                continue
            if status == "START":
                current = path
                continue
            done.add(path)
            if status in ("LOADED", "REFUSED"):
                grown = int(detail[0]) - base
                report.peak_growth = max(report.peak_growth, grown)
                if grown > memory_budget:
                    detail = f"+{grown:,} bytes | {what.get(path, '')}"
                    report.findings.append((path, "memory", detail))
                elif status == "LOADED":
                    report.loaded += 1
                else:
                    report.refused += 1
            else:
                report.findings.append(
                    (path, status.lower(), " ".join(detail).strip() + " | " + what.get(path, ""))
                )
        todo = [p for p in todo if p not in done]
    report.seconds = time.perf_counter() - t0
    return report
