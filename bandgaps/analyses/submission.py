"""Matbench submissions: the two files the benchmark's repository takes for an entry.

A submission is a folder ``matbench_v0.1_<algorithm>`` holding

* ``results.json.gz``: Matbench's ``MatbenchBenchmark`` document. Each fold's test
  predictions are keyed by the ``mb-…`` ids, with the fold's parameters and its scores.
  Matbench's version, a datestamp in its format and its hash (sha256 of the rest, immutified
  as ``matbench.util.hash_dictionary`` does) are added. Classification tasks hold
  probabilities of class 1, which Matbench 0.6 scores by ROC-AUC directly and by labels at
  p > 0.5 for the other metrics.
* ``info.json``: ``authors``, ``algorithm`` (the short name), ``algorithm_long``,
  ``bibtex_refs``, ``notes`` and ``requirements``. The notes say what the entry learned from
  besides the task, such as a PBE reference trained on Materials Project data, which the
  benchmark's authors ask entries to disclose.

``check_submission`` reads a folder back, checks it field by field and re-scores it against
the published folds.

Examples:
    >>> doc = {"b": [1, 2], "a": {"z": 1.0, "y": "x"}}
    >>> document_hash(doc) == document_hash({"a": {"y": "x", "z": 1.0}, "b": [1, 2]})
    True
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bandgaps.analyses.matbench import N_FOLDS, BenchmarkRun, MatbenchTask, get_task, score_fold
from bandgaps.errors import InputError

#: The Matbench release whose format the files follow.
MATBENCH_VERSION = "0.6"
BENCHMARK = "matbench_v0.1"
#: The scores Matbench records per fold, exactly these and in this order.
METRICS = {
    "regression": ("mae", "rmse", "mape", "max_error"),
    "classification": ("accuracy", "balanced_accuracy", "f1", "rocauc"),
}
#: Who submits: the project, not a person.
AUTHORS = "the bandgaps project"
_DATESTAMP = "%Y.%m.%d %H:%M.%S"
#: The keys ``info.json`` must hold (Matbench's leaderboard reads them).
INFO_KEYS = ("authors", "algorithm", "algorithm_long", "bibtex_refs", "notes", "requirements")
#: Libraries whose versions an entry lists under ``requirements``.
REQUIRED_LIBRARIES = ("lightgbm", "matminer", "numpy", "pandas", "pymatgen", "scikit-learn")


def _immutable(value):
    """Matbench's deterministic form of a document: every dict's keys sorted, lists as tuples
    (which JSON writes back as lists); NumPy values as Python numbers."""
    if isinstance(value, dict):
        return {k: _immutable(value[k]) for k in sorted(value)}
    if isinstance(value, np.ndarray | pd.Series):
        return tuple(value.tolist())
    if isinstance(value, list):
        return tuple(value)
    if hasattr(value, "dtype"):
        return value.item()
    return value


def document_hash(doc: dict) -> str:
    """The hash Matbench stores with a results document: sha256 of its immutified JSON.

    Args:
        doc: the document without its ``hash``.

    Returns:
        64 hexadecimal digits.
    """
    return hashlib.sha256(json.dumps(_immutable(doc)).encode("utf-8")).hexdigest()


def _fold_results(run: BenchmarkRun, fold: int) -> dict:
    rows = run.predictions[run.predictions["fold"] == fold]
    if rows.empty:
        raise InputError(f"{run.entry}: fold {fold} of {run.task.name} has no predictions")
    values = rows["prediction"].to_numpy(float)
    if run.task.kind == "classification" and ((values < 0) | (values > 1)).any():
        raise InputError(f"{run.entry}: a probability outside [0, 1] in fold {fold}")
    scores = score_fold(run.task, rows["target"].to_numpy(float), values)
    params = run.parameters[fold] if fold < len(run.parameters) else {}
    return {
        "data": {mb_id: float(v) for mb_id, v in zip(rows.index, values, strict=True)},
        "parameters": _immutable(json.loads(json.dumps(params, default=_plain))),
        "scores": {m: float(scores[m]) for m in METRICS[run.task.kind]},
    }


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def results_document(
    runs: Sequence[BenchmarkRun], metadata: dict | None = None, when: datetime | None = None
) -> dict:
    """Runs of one entry as Matbench's ``results.json.gz`` document (one task per run).

    Args:
        runs: one run per task, each with all five folds.
        metadata: what describes the entry (``user_metadata``).
        when: the datestamp (default now, UTC).

    Returns:
        The document, hash included.
    """
    tasks = {}
    for run in runs:
        if run.task.matbench_name in tasks:
            raise InputError(f"Two runs of {run.task.name} in one results file")
        tasks[run.task.matbench_name] = {
            "@module": "matbench.task",
            "@class": "MatbenchTask",
            "benchmark_name": BENCHMARK,
            "dataset_name": run.task.matbench_name,
            "results": {f"fold_{k}": _fold_results(run, k) for k in range(N_FOLDS)},
        }
    doc = {
        "@module": "matbench.bench",
        "@class": "MatbenchBenchmark",
        "version": MATBENCH_VERSION,
        "tasks": tasks,
        "user_metadata": _immutable(metadata or {}),
        "benchmark_name": BENCHMARK,
        "datestamp": (when or datetime.now(UTC)).strftime(_DATESTAMP),
    }
    doc["hash"] = document_hash(doc)
    return doc


def write_results(path: str | Path, runs: Sequence[BenchmarkRun], metadata: dict | None = None):
    """Write ``results.json.gz`` atomically.

    Args:
        path: the file.
        runs: one run per task.
        metadata: what describes the entry.

    Returns:
        ``path``.
    """
    from bandgaps.cache import note
    from bandgaps.files import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".gz") as tmp:
        _dump(tmp, results_document(runs, metadata))
    note("output", path)
    return path


def _dump(path: Path, doc: dict) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(doc, fh)


def read_results(path: str | Path) -> dict[str, pd.DataFrame]:
    """``{task: frame of mb_id, fold, prediction}`` from a ``results.json.gz``.

    Args:
        path: the file.

    Returns:
        ``{task: frame}``.
    """
    doc = _read_document(Path(path))
    out = {}
    for name, task in doc["tasks"].items():
        rows = [
            (mb_id, int(fold.removeprefix("fold_")), value)
            for fold, res in task["results"].items()
            for mb_id, value in res["data"].items()
        ]
        out[name] = pd.DataFrame(rows, columns=["mb_id", "fold", "prediction"]).set_index("mb_id")
    return out


def _read_document(path: Path) -> dict:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"{path} is not a gzipped Matbench results file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), dict):
        raise InputError(f"{path} is not a Matbench results document")
    return doc


# ----------------------------------------------------------------------------------------------
# info.json and the folder


@dataclass(frozen=True)
class EntryInfo:
    """What ``info.json`` says about an entry.

    Attributes:
        algorithm: the short name Matbench's leaderboard shows (5–15 characters).
        description: the algorithm, in a paragraph (``algorithm_long``).
        learned_from: the data it learned from besides the task's training rows.
        references: BibTeX entries of the methods it rests on.
        registered: the commit that registered the entry before it was scored.
    """

    algorithm: str
    description: str
    learned_from: tuple[str, ...]
    references: tuple[str, ...]
    registered: str = ""

    def document(self) -> dict:
        """The ``info.json`` document.

        Returns:
            Matbench's six keys.
        """
        from importlib.metadata import version

        if not 5 <= len(self.algorithm) <= 15:
            raise InputError(
                f"Matbench asks for a short algorithm name of 5–15 characters: {self.algorithm!r}"
            )
        learned = "; ".join(self.learned_from) or "the task's training rows only"
        notes = f"Besides each fold's training rows, the entry learned from: {learned}."
        if self.registered:
            notes += f" Registered before scoring in bandgaps commit {self.registered}."
        return {
            "authors": AUTHORS,
            "algorithm": self.algorithm,
            "algorithm_long": self.description,
            "bibtex_refs": list(self.references),
            "notes": notes,
            "requirements": {
                "python": [f"{name}=={version(name)}" for name in REQUIRED_LIBRARIES]
                + [f"bandgaps=={version('bandgaps')}"]
            },
        }


#: The methods and data every entry rests on, as BibTeX.
REFERENCES = {
    "matbench": "@article{Dunn2020, author = {Dunn, Alexander and Wang, Qi and Ganose, Alex and "
    "Dopp, Daniel and Jain, Anubhav}, title = {Benchmarking materials property prediction "
    "methods: the Matbench test set and Automatminer reference algorithm}, journal = {npj "
    "Computational Materials}, volume = {6}, pages = {138}, year = {2020}, doi = "
    "{10.1038/s41524-020-00406-3}}",
    "magpie": "@article{Ward2016, author = {Ward, Logan and Agrawal, Ankit and Choudhary, Alok "
    "and Wolverton, Christopher}, title = {A general-purpose machine learning framework for "
    "predicting properties of inorganic materials}, journal = {npj Computational Materials}, "
    "volume = {2}, pages = {16028}, year = {2016}, doi = {10.1038/npjcompumats.2016.28}}",
    "matminer": "@article{Ward2018, author = {Ward, Logan and others}, title = {Matminer: An "
    "open source toolkit for materials data mining}, journal = {Computational Materials "
    "Science}, volume = {152}, pages = {60--69}, year = {2018}, doi = "
    "{10.1016/j.commatsci.2018.05.018}}",
    "lightgbm": "@inproceedings{Ke2017, author = {Ke, Guolin and Meng, Qi and Finley, Thomas "
    "and Wang, Taifeng and Chen, Wei and Ma, Weidong and Ye, Qiwei and Liu, Tie-Yan}, title = "
    "{LightGBM: A Highly Efficient Gradient Boosting Decision Tree}, booktitle = {Advances in "
    "Neural Information Processing Systems 30}, pages = {3146--3154}, year = {2017}}",
    "materials-project": "@article{Jain2013, author = {Jain, Anubhav and others}, title = "
    "{Commentary: The Materials Project: A materials genome approach to accelerating materials "
    "innovation}, journal = {APL Materials}, volume = {1}, pages = {011002}, year = {2013}, "
    "doi = {10.1063/1.4812323}}",
}


def entry_info(entry) -> EntryInfo:
    """``info.json``'s content for a registered entry (``bandgaps.analyses.registry``), with
    the commit that registered it.

    Args:
        entry: a ``RegisteredEntry`` with a description.

    Returns:
        The ``EntryInfo``.
    """
    from bandgaps.analyses.registry import registration

    reg = registration(entry.id)
    keys = ["matbench", "magpie", "matminer", "lightgbm"]
    if any("Materials Project" in source for source in entry.learned_from):
        keys.append("materials-project")
    return EntryInfo(
        algorithm=entry.algorithm,
        description=entry.description or entry.model,
        learned_from=entry.learned_from,
        references=tuple(REFERENCES[k] for k in keys),
        registered=reg.commit,
    )


def folder_name(info: EntryInfo) -> str:
    """``matbench_v0.1_<algorithm>``, the folder name Matbench's repository uses.

    Args:
        info: the entry.

    Returns:
        The name (spaces and slashes as underscores).
    """
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in info.algorithm)
    return f"{BENCHMARK}_{safe}"


def write_submission(folder: str | Path, runs: Sequence[BenchmarkRun], info: EntryInfo) -> Path:
    """Write a submission folder (``results.json.gz`` and ``info.json``) in one step: it is
    assembled aside and put in place whole, so a failure leaves nothing half-written.

    Args:
        folder: where (replaced if it is an earlier submission folder).
        runs: one run per task.
        info: what ``info.json`` says.

    Returns:
        ``folder``.
    """
    from bandgaps.cache import note
    from bandgaps.files import atomic_folder

    folder = Path(folder)
    if folder.exists() and not {p.name for p in folder.iterdir()} <= {
        "results.json.gz",
        "info.json",
    }:
        raise InputError(f"{folder} holds other files than a submission; choose another folder")
    document = info.document()
    metadata = {"entry": runs[0].entry if runs else "", "registered": info.registered}
    with atomic_folder(folder) as tmp:
        _dump(tmp / "results.json.gz", results_document(runs, metadata))
        (tmp / "info.json").write_text(json.dumps(document, indent=2) + "\n")
    note("output", folder)
    return folder


def check_submission(folder: str | Path) -> pd.DataFrame:
    """Read a submission folder back and re-score it against the published folds.

    Checks: both files and ``info.json``'s keys; the document's keys, hash, version and
    benchmark; each task's five folds with exactly their test ids (the official fold rule);
    values of the right type (probabilities in [0, 1] for classification); recorded scores
    equal to scores recomputed from the task's targets.

    Args:
        folder: a folder written by ``write_submission``.

    Returns:
        One row per task and fold: recorded and recomputed headline score.

    Raises:
        InputError: the first thing that is wrong, named.
    """
    from bandgaps.analyses.matbench import official_folds

    folder = Path(folder)
    info_path, results_path = folder / "info.json", folder / "results.json.gz"
    for path in (info_path, results_path):
        if not path.is_file():
            raise InputError(f"Submission {folder} lacks {path.name}")
    info = json.loads(info_path.read_text())
    missing = [k for k in INFO_KEYS if not info.get(k)]
    if missing:
        raise InputError(f"{info_path} lacks {', '.join(missing)}")
    doc = _read_document(results_path)
    expected = {
        "@module",
        "@class",
        "version",
        "tasks",
        "user_metadata",
        "benchmark_name",
        "datestamp",
        "hash",
    }
    if set(doc) != expected:
        raise InputError(f"{results_path}: keys {sorted(set(doc) ^ expected)} differ")
    rest = {k: v for k, v in doc.items() if k != "hash"}
    if document_hash(rest) != doc["hash"]:
        raise InputError(f"{results_path}: its hash does not match its contents")
    if doc["benchmark_name"] != BENCHMARK:
        raise InputError(f"{results_path}: benchmark {doc['benchmark_name']!r}")
    rows = []
    for name, task_doc in doc["tasks"].items():
        task = get_task(name)
        frame = task.load()
        folds = official_folds(task, frame["target"])
        results = task_doc.get("results", {})
        if sorted(results) != [f"fold_{k}" for k in range(N_FOLDS)]:
            raise InputError(f"{results_path}: {name} does not hold the five folds")
        for k, (_, test_rows) in enumerate(folds):
            fold = results[f"fold_{k}"]
            if set(fold) != {"data", "parameters", "scores"}:
                raise InputError(f"{results_path}: {name} fold {k} has keys {sorted(fold)}")
            ids = frame.index[test_rows]
            if set(fold["data"]) != set(ids):
                raise InputError(f"{results_path}: {name} fold {k} is not the published fold")
            values = [fold["data"][i] for i in ids]
            _check_values(task, values, f"{results_path}: {name} fold {k}")
            recomputed = score_fold(task, frame.loc[ids, "target"], np.asarray(values, float))
            recorded = fold["scores"]
            if set(recorded) != set(METRICS[task.kind]):
                raise InputError(f"{results_path}: {name} fold {k} scores {sorted(recorded)}")
            worst = max(abs(recorded[m] - recomputed[m]) for m in METRICS[task.kind])
            if not worst < 1e-9:
                raise InputError(
                    f"{results_path}: {name} fold {k}: recorded scores differ from the "
                    f"targets' by {worst:.2g}"
                )
            rows.append(
                {
                    "task": name,
                    "fold": k,
                    "rows": len(ids),
                    "metric": task.metric,
                    "recorded": recorded[task.metric],
                    "re-scored": recomputed[task.metric],
                }
            )
    return pd.DataFrame(rows)


def _check_values(task: MatbenchTask, values: list, where: str) -> None:
    if task.kind == "regression":
        if not all(isinstance(v, float) and np.isfinite(v) for v in values):
            raise InputError(f"{where}: a prediction is not a finite number")
        return
    if not all(isinstance(v, bool) or (isinstance(v, float) and 0 <= v <= 1) for v in values):
        raise InputError(f"{where}: a prediction is neither a label nor a probability")


__all__ = [
    "AUTHORS",
    "BENCHMARK",
    "INFO_KEYS",
    "MATBENCH_VERSION",
    "METRICS",
    "REFERENCES",
    "EntryInfo",
    "check_submission",
    "document_hash",
    "entry_info",
    "folder_name",
    "read_results",
    "results_document",
    "write_results",
    "write_submission",
]
