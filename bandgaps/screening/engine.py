"""Run a screen on Dask: partitions to workers, each finished partition written atomically.

The output folder holds ``screen.json`` (the arguments and, at the end, the counts),
``predictions/part-NNNNN.parquet`` and ``errors/part-NNNNN.parquet`` (one pair per partition;
the predictions file is written last, so its presence marks a finished partition) and, with
``top``, ``top.parquet``. Started again with the same arguments, a run skips the finished
partitions; the predictions and errors together hold every input row exactly once (rows outside
the gap window are counted, not written).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from bandgaps.errors import InputError, OptionError
from bandgaps.models.predictor import check_levels
from bandgaps.screening.predictors import (
    output_columns,
    predict_partition,
    resolve_models,
    value_column,
)
from bandgaps.screening.sources import Source, open_source

FORMAT = "bandgaps-screen/1"

#: Rows per partition by input kind: about 40 MB of features for formulas, a few hundred
#: MEGNet graphs for structures.
PARTITION_ROWS = {"formulas": 20_000, "structures": 500}

#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 5

_TEXT = ("id", "name", "formula", "input", "reason")


@dataclass
class ScreenReport:
    """What a screen did: rows read, predicted, kept by the filters, errors, and its speed.

    Attributes:
        out: the output folder.
        rows: the input's rows.
        predicted: rows every model predicted.
        kept: predicted rows inside the window (all of them without one).
        errors: rows that could not be read or predicted (listed with their reason).
        filtered: predicted, but outside the window: ``kept + filtered + errors = rows``.
        partitions: the input's partitions.
        resumed: partitions found finished and skipped.
        computed_rows: rows predicted by this run (not resumed).
        seconds: the run's wall time.
        startup_seconds: starting the cluster and loading the models once.
        workers: worker processes.
        models: each model's value column, in model order.
        step_seconds: worker seconds per step, summed over the partitions this run computed:
            ``read`` (parse and check the rows), then per model ``features`` and ``model``
            (composition models) or ``graphs`` and ``network`` (MEGNet).
    """

    out: Path
    rows: int
    predicted: int
    kept: int
    errors: int
    filtered: int  # predicted, but outside the window: kept + filtered + errors = rows
    partitions: int
    resumed: int  # partitions found finished and skipped
    computed_rows: int  # rows predicted by this run (not resumed)
    seconds: float
    startup_seconds: float  # starting the cluster and loading the models once
    workers: int
    models: list[str] = field(default_factory=list)  # prediction columns, in model order
    #: worker seconds per step, summed over the partitions this run computed: "read" (parse
    #: and check the rows), then per model "features" and "model" (composition models) or
    #: "graphs" and "network" (MEGNet); see ``predict_partition``
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """Rows this run computed per second of its wall time (resumed rows not counted)."""
        return self.computed_rows / self.seconds if self.seconds > 0 else float("nan")

    @property
    def steady_rows_per_second(self) -> float:
        """The same once the cluster is up and the models are loaded."""
        busy = self.seconds - self.startup_seconds
        return self.computed_rows / busy if busy > 0 else float("nan")


def _part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _schema(columns: Sequence[str]):
    import pyarrow as pa

    return pa.schema(
        [
            (
                c,
                pa.int64()
                if c == "row"
                else pa.string()
                if c in _TEXT
                else pa.bool_()
                if _is_flag(c)
                else pa.float64(),
            )
            for c in columns
        ]
    )


def _is_flag(column: str) -> bool:
    """A yes/no column of a prediction table: ``in domain``, ``0 possible 0.9``."""
    return column.endswith(": in domain") or " possible " in column


def _write(frame: pd.DataFrame, columns: Sequence[str], target: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bandgaps.files import atomic_path

    frame = frame.reindex(columns=list(columns))
    table = pa.Table.from_pandas(frame, schema=_schema(columns), preserve_index=False)
    with atomic_path(target, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def _check_options(gap_min, gap_max, top, workers, partition_rows, scheduler) -> None:
    for name, value in (("--gap-min", gap_min), ("--gap-max", gap_max)):
        if value is not None and not math.isfinite(value):
            raise OptionError(f"{name} must be a finite number, not {value}")
    if gap_min is not None and gap_max is not None and gap_min > gap_max:
        raise OptionError(f"--gap-min {gap_min:g} is above --gap-max {gap_max:g}")
    if top is not None and top < 1:
        raise OptionError(f"--top must be at least 1, not {top}")
    if workers is not None and workers < 1:
        raise OptionError(f"--workers must be at least 1, not {workers}")
    if workers is not None and scheduler:
        raise OptionError("--workers sizes the embedded cluster; leave it out with --scheduler")
    from joblib import cpu_count  # the count the boosters use: affinity and cgroups included

    cores = cpu_count()
    if workers is not None and workers > cores:
        raise OptionError(
            f"--workers {workers} is more than this machine's {cores} cores (the ceiling); "
            "use --scheduler to screen on a larger cluster"
        )
    if partition_rows is not None and not 1 <= partition_rows <= MAX_PARTITION_ROWS:
        raise OptionError(
            f"--partition-rows must be from 1 to {MAX_PARTITION_ROWS:,}, not {partition_rows}"
        )


#: The most rows one partition may hold (each worker holds a partition's features in memory).
MAX_PARTITION_ROWS = 1_000_000


def _prepare_output(out: Path, arguments: dict, overwrite: bool) -> set[int]:
    """Create or check the output folder; the indices of partitions already finished."""
    import json

    from bandgaps.files import write_json_atomic

    manifest = out / "screen.json"
    if out.exists() and not out.is_dir():
        raise InputError(f"Screen output {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()):
        if not manifest.is_file():
            raise InputError(
                f"Screen output {out} is a folder that holds other files; give a new one"
            )
        try:
            previous = json.loads(manifest.read_text())
        except (OSError, ValueError):
            previous = {}
        old = previous.get("arguments", {})
        if old != arguments and not overwrite:
            differ = sorted(k for k in set(arguments) | set(old) if arguments.get(k) != old.get(k))
            raise InputError(
                f"Screen output {out} holds a screen with other arguments (differs in: "
                f"{', '.join(differ or ['format'])}); use --overwrite to start it again, or "
                "another folder"
            )
        if overwrite and old != arguments:
            for sub in ("predictions", "errors"):
                shutil.rmtree(out / sub, ignore_errors=True)
            (out / "top.parquet").unlink(missing_ok=True)
    for sub in ("predictions", "errors"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out / sub).glob(".*.partial*"):  # a write cut off by a killed run
            stale.unlink()
    write_json_atomic(manifest, {"format": FORMAT, "status": "running", "arguments": arguments})
    return {
        int(p.stem.split("-")[1])
        for p in (out / "predictions").glob("part-*.parquet")
        if (out / "errors" / p.name).is_file()
    }


class _Cluster:
    """A Dask client: to the scheduler at ``address``, or to an embedded ``LocalCluster``."""

    def __init__(self, address: str | None, workers: int | None):
        self.address, self.workers = address, workers

    def __enter__(self):
        from dask.distributed import Client, LocalCluster

        if self.address:
            try:
                self.client = Client(self.address, timeout=f"{CONNECT_TIMEOUT}s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(
                    f"No Dask scheduler answered at {self.address} within {CONNECT_TIMEOUT} s "
                    f"({type(exc).__name__}); start one with `dask scheduler` or leave out "
                    "--scheduler"
                ) from None
            try:
                self.client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                self.client.close()
                raise InputError(f"The Dask scheduler at {self.address} has no workers") from None
            self.cluster = None
        else:
            self.cluster = LocalCluster(
                n_workers=self.workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


#: Set in every worker before a model loads: one thread per task (Dask runs the tasks side by
#: side; LightGBM's and scikit-learn's ``n_jobs=-1`` read joblib's CPU count, which follows
#: ``LOKY_MAX_CPU_COUNT``), no progress bars (the driver draws the only one) and no result
#: cache: a partition's features are used once (a resumed screen skips finished partitions),
#: and caching them wrote 42 MB per 20,000 formulas (3.4 GB in a cold site build).
WORKER_ENV = {
    "BANDGAPS_PROGRESS": "0",
    "BANDGAPS_NO_CACHE": "1",
    "LOKY_MAX_CPU_COUNT": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}


def _probe(specs, kind, level):
    os.environ.update(WORKER_ENV)
    return output_columns(specs, kind, level)


def _task(part, specs, kind, window, columns, level):
    """One partition on a worker, with the seconds each step took."""
    os.environ.update(WORKER_ENV)
    steps: dict[str, float] = {}
    predictions, errors = predict_partition(part, specs, kind, window, steps, level)
    return part.index, len(part), predictions.reindex(columns=columns), errors, steps


def _top(out: Path, label: str, n: int) -> pd.DataFrame:
    """The ``n`` rows with the highest ``label`` over every finished partition, read one
    partition at a time."""
    best = None
    for path in sorted((out / "predictions").glob("part-*.parquet")):
        frame = pd.read_parquet(path)
        best = pd.concat([best, frame]) if best is not None else frame
        best = best.nlargest(n, label, keep="first")
    return best.sort_values([label, "row"], ascending=[False, True]).reset_index(drop=True)


def screen(
    source: str | Path | Source,
    models: Sequence[str],
    out: str | Path,
    *,
    gap_min: float | None = None,
    gap_max: float | None = None,
    top: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    partition_rows: int | None = None,
    formula_column: str = "formula",
    id_column: str | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    on_training=None,
    level=None,
) -> ScreenReport:
    """Predict every row of ``source`` with ``models`` and write the Parquet dataset ``out``.

    Everything the user gave is checked (input, models, options, output folder) before a worker
    starts. In a script, call it under ``if __name__ == "__main__":``: the embedded cluster's
    worker processes import the script again.

    Args:
        source: a formula table (``.csv``, ``.parquet``), structures (``.xyz``/``.extxyz``, a
            folder or a ``.zip`` of CIF/POSCAR files), or a ``Source`` already opened.
        models: model names as ``bandgaps.models.predictor.resolve`` reads them; the first
            is the one filtered and ranked.
        out: the output folder: ``predictions/``, ``errors/``, ``screen.json`` and, with
            ``top``, ``top.parquet``. A folder holding this screen resumes it.
        gap_min: keep rows whose first model predicts at least this.
        gap_max: keep rows whose first model predicts at most this.
        top: also write the ``top`` rows with the first model's highest values.
        scheduler: the address of a running Dask scheduler; default an embedded cluster.
        workers: worker processes of the embedded cluster (at most the cores).
        partition_rows: rows per partition (default 20,000 formulas or 500 structures).
        formula_column: the formula column of a table.
        id_column: a table's id column, copied to the output.
        overwrite: start again in a folder that holds a screen with other arguments.
        progress: draw a progress bar (default: on a terminal).
        on_training: called with a named model's name before it is trained.
        level: one coverage or several (default 0.9) for the models that have intervals.

    Returns:
        A ``ScreenReport``: rows predicted, kept, filtered and in error, the speed, and each
        step's worker time.
    """
    from bandgaps.files import write_json_atomic

    _check_options(gap_min, gap_max, top, workers, partition_rows, scheduler)
    levels = list(check_levels(level)) or None
    src = source if isinstance(source, Source) else open_source(source, formula_column, id_column)
    specs = resolve_models(models, src.kind, on_training)
    size = partition_rows or PARTITION_ROWS[src.kind]
    window = None if gap_min is None and gap_max is None else (gap_min, gap_max)
    out = Path(out)
    arguments = {
        "source": src.signature,
        "kind": src.kind,
        "formula_column": formula_column if src.kind == "formulas" else None,
        "id_column": id_column,
        "models": [s.identity() for s in specs],
        "partition_rows": size,
        "window": list(window) if window else None,
        "level": levels,
    }
    created = not out.exists()
    done = _prepare_output(out, arguments, overwrite)
    n_parts = math.ceil(src.n_rows / size)
    done = {i for i in done if i < n_parts}
    try:
        report, columns = _run(
            src, specs, size, window, out, scheduler, workers, done, progress, id_column, levels
        )
    except BaseException as exc:
        _after_failure(out, created, arguments, exc)
        raise
    if top is not None:
        _write(_top(out, value_column(specs[0]), top), columns, out / "top.parquet")
    report_fields = {k: v for k, v in asdict(report).items() if k != "out"}
    write_json_atomic(
        out / "screen.json",
        {"format": FORMAT, "status": "complete", "arguments": arguments, "counts": report_fields},
    )
    return report


def _after_failure(out: Path, created: bool, arguments: dict, exc: BaseException) -> None:
    """A screen that stopped: the folder goes if this run made it and finished nothing;
    otherwise ``screen.json`` says why it stopped and the same command resumes it."""
    from bandgaps.files import write_json_atomic

    finished = any((out / "predictions").glob("part-*.parquet"))
    if created and not finished:
        shutil.rmtree(out, ignore_errors=True)
        return
    reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}"
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    with contextlib.suppress(OSError):
        write_json_atomic(
            out / "screen.json",
            {
                "format": FORMAT,
                "status": "stopped",
                "reason": f"{reason}: {detail}" if detail else reason,
                "arguments": arguments,
            },
        )


def _run(src, specs, size, window, out, scheduler, workers, done, progress, id_column, level):
    """The partitions not in ``done``, on the cluster; the report and the table's columns."""
    from dask.distributed import as_completed
    from tqdm import tqdm

    from bandgaps.config import progress_enabled

    n_parts = math.ceil(src.n_rows / size)
    resumed_rows = sum(min(size, src.n_rows - i * size) for i in done)
    t0 = time.perf_counter()
    with _Cluster(scheduler, workers) as client:
        n_workers = len(client.scheduler_info()["workers"])
        # every worker loads the models now, once; they stay loaded between partitions
        model_cols = next(iter(client.run(_probe, specs, src.kind, level).values()))
        startup = time.perf_counter() - t0
        ids = ["id"] if src.kind == "formulas" and id_column else []
        names = ["name"] if src.kind == "structures" else []
        columns = ["row", *ids, *names, "formula", *model_cols]
        error_columns = ["row", *ids, *names, "input", "reason"]
        parts = src.partitions(size, skip=done)
        limit = 2 * n_workers
        run = uuid.uuid4().hex[:12]
        running = as_completed()
        step_seconds: dict[str, float] = {}
        bar = tqdm(
            total=src.n_rows,
            initial=resumed_rows,
            unit="row",
            unit_scale=True,
            desc="screen",
            disable=not (progress_enabled() if progress is None else progress),
        )

        def submit_next() -> bool:
            part = next(parts, None)
            if part is None:
                return False
            running.add(
                client.submit(
                    _task,
                    part,
                    specs,
                    src.kind,
                    window,
                    columns,
                    level,
                    key=f"screen-{run}-{part.index}",
                )
            )
            return True

        for _ in range(limit):
            if not submit_next():
                break
        with bar:
            for future in running:
                index, n_rows, predictions, errors, steps = future.result()
                future.release()
                for step, seconds in steps.items():
                    step_seconds[step] = step_seconds.get(step, 0.0) + seconds
                _write(errors, error_columns, out / "errors" / _part_name(index))
                _write(predictions, columns, out / "predictions" / _part_name(index))
                bar.update(n_rows)
                submit_next()
    seconds = time.perf_counter() - t0
    report = ScreenReport(
        out=out,
        rows=src.n_rows,
        resumed=len(done),
        partitions=n_parts,
        computed_rows=src.n_rows - resumed_rows,
        seconds=seconds,
        startup_seconds=startup,
        workers=n_workers,
        models=[value_column(s) for s in specs],
        step_seconds={k: round(v, 3) for k, v in step_seconds.items()},
        **_counts(out, src.n_rows, n_parts),
    )
    return report, columns


def _counts(out: Path, n_rows: int, n_parts: int) -> dict[str, int]:
    """Rows predicted, kept and in error over every partition, from the Parquet footers."""
    import pyarrow.parquet as pq

    def rows(sub: str) -> int:
        return sum(
            pq.ParquetFile(out / sub / _part_name(i)).metadata.num_rows for i in range(n_parts)
        )

    errors, kept = rows("errors"), rows("predictions")
    predicted = n_rows - errors
    return {"predicted": predicted, "kept": kept, "errors": errors, "filtered": predicted - kept}


def read_screen(out: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a finished screen folder back.

    Args:
        out: the folder ``screen`` wrote.

    Returns:
        ``(predictions, errors)`` as two frames, each in row order.
    """
    out = Path(out)
    if not (out / "screen.json").is_file():
        raise InputError(f"{out} is not a screen output folder (no screen.json)")
    tables = []
    for sub in ("predictions", "errors"):
        frame = pd.read_parquet(out / sub)
        tables.append(frame.sort_values("row").reset_index(drop=True))
    return tables[0], tables[1]


__all__ = ["FORMAT", "PARTITION_ROWS", "ScreenReport", "read_screen", "screen"]
