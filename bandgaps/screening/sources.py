"""Inputs of a screen, read as partitions of a fixed number of rows without loading them whole.

A *formula table* is a CSV or Parquet file with a formula column (and optionally an id column);
a *structure collection* is an extended XYZ file (one structure per frame), a folder, or a zip
of CIF/POSCAR files. Partition ``k`` always holds rows ``k·size … (k+1)·size − 1``, so a run
started again with the same arguments finds the same partitions.

Examples:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "f.csv").write_text("formula\\nSi\\nGaAs\\nQq2\\n")
    >>> src = open_source(folder / "f.csv")
    >>> src.kind, src.n_rows
    ('formulas', 3)
    >>> [(p.index, p.start, p.items) for p in src.partitions(2)]
    [(0, 0, ['Si', 'GaAs']), (1, 2, ['Qq2'])]
"""

from __future__ import annotations

import itertools
import math
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bandgaps.errors import InputError

#: Suffixes read as formula tables.
TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: The largest structure file (or zip member) a screen reads: a CIF of ~100,000 atoms, far past
#: what a graph network is run on; a larger one is refused before the screen starts.
MAX_STRUCTURE_BYTES = 16 * 2**20
#: The most atoms one frame of an XYZ file may declare (its count line), for the same reason.
MAX_FRAME_ATOMS = 100_000


@dataclass
class Partition:
    """Rows ``start … start + len(items) − 1`` of a source.

    Attributes:
        index: the partition's number.
        start: its first row.
        items: formulas, or structure texts.
        names: the structures' names (a file name, or ``file#frame`` of an XYZ file).
        ids: a table's id column.
    """

    index: int
    start: int
    items: list[str]
    names: list[str] | None = None
    ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class Source:
    """An opened input: what it holds, how many rows, and a way to read its partitions.

    Attributes:
        path: the input.
        kind: ``formulas`` or ``structures``.
        n_rows: its rows.
        reader: reads its partitions (see ``partitions``).
        signature: what must match for a screen of it to be continued (path, size, time).
        ignored: files in a folder or zip that are not structures.
    """

    path: Path
    kind: str  # "formulas" or "structures"
    n_rows: int
    reader: object = field(repr=False)
    signature: dict = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # files that are not structures

    def partitions(self, size: int, skip: set[int] = frozenset()) -> Iterator[Partition]:
        """The partitions of the source, in order.

        Args:
            size: rows per partition.
            skip: partition numbers passed over unread where the format allows (their rows
                are still counted).

        Returns:
            An iterator of ``Partition``.
        """
        if size < 1:
            raise InputError(f"partition size must be at least 1, not {size}")
        return self.reader(size, set(skip))


def _signature(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "bytes": st.st_size, "modified_ns": st.st_mtime_ns}


def open_source(
    path: str | Path, formula_column: str = "formula", id_column: str | None = None
) -> Source:
    """Open a formula table or a structure collection, checking it before any work starts.

    Args:
        path: a ``.csv``/``.parquet`` table, an ``.xyz``/``.extxyz`` file, a folder or a
            ``.zip`` of structure files.
        formula_column: the formula column of a table (text).
        id_column: a table's id column, copied to the output.

    Returns:
        A ``Source``: its kind (``formulas`` or ``structures``), row count and reader.

    Raises:
        InputError: a missing, empty, unreadable or oversized input, or a missing column.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Screen input {path} does not exist")
    if path.is_dir():
        names, ignored = _structure_names(
            str(p.relative_to(path))
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not names:
            raise InputError(f"Screen input folder {path} holds no CIF, POSCAR or XYZ files")
        sizes = {n: (path / n).stat().st_size for n in names}
        _check_sizes(sizes, f"Screen input folder {path}")
        signature = {"path": str(path.resolve()), "files": len(names), "bytes": sum(sizes.values())}
        reader = _named_texts(names, lambda n: (path / n).read_bytes())
        return Source(path, "structures", len(names), reader, signature, ignored)
    if path.stat().st_size == 0:
        raise InputError(f"Screen input {path} is empty")
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return _table_source(path, TABLE_SUFFIXES[suffix], formula_column, id_column)
    if suffix == ".zip":
        return _zip_source(path)
    if suffix in {".xyz", ".extxyz"}:
        return _xyz_source(path)
    raise InputError(
        f"Cannot screen {path}: give a formula table (.csv, .parquet) or structures "
        "(.xyz/.extxyz, a folder or a .zip of CIF/POSCAR files)"
    )


# formula tables -------------------------------------------------------------------------------


def _table_source(path: Path, fmt: str, formula_column: str, id_column: str | None) -> Source:
    import pyarrow as pa

    columns = [formula_column] + ([id_column] if id_column else [])
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            present, n_rows = pf.schema_arrow.names, pf.metadata.num_rows
            if formula_column in present:
                _check_text_column(pf.schema_arrow.field(formula_column), path)
        else:
            present, n_rows = _scan_csv(path)
    except (pa.ArrowException, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"Cannot read the formula table {path}: {detail}") from None
    missing = [c for c in columns if c not in present]
    if missing:
        raise InputError(
            f"Formula table {path} has no column {missing[0]!r} (it has: "
            + ", ".join(map(repr, present[:10]))
            + (" …" if len(present) > 10 else "")
            + "); name it with --formula-column / --id-column"
        )
    if n_rows == 0:
        raise InputError(f"Formula table {path} has a header but no rows")

    def batches():
        if fmt == "parquet":
            yield from pq.ParquetFile(path).iter_batches(batch_size=65536, columns=columns)
        else:
            yield from _open_csv(path, columns)

    def reader(size: int, skip: set[int]) -> Iterator[Partition]:
        for index, start, chunk in _rechunk(batches(), size):
            if index in skip:
                continue
            formulas = chunk.column(0).to_pylist()
            ids = chunk.column(1).to_pylist() if id_column else None
            yield Partition(
                index,
                start,
                ["" if f is None else f for f in formulas],
                ids=None if ids is None else ["" if i is None else str(i) for i in ids],
            )

    return Source(path, "formulas", n_rows, reader, _signature(path))


def _check_text_column(field, path: Path) -> None:
    """A Parquet formula column must hold text (as a CSV's always does): a column of numbers
    or lists is refused before the screen starts, not failed row by row."""
    import pyarrow as pa

    kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InputError(
            f"Formula table {path}: column {field.name!r} holds {field.type} values, not text "
            "formulas; name the formula column with --formula-column"
        )


def _csv_options(columns: Sequence[str] | None):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    types = {c: pa.string() for c in columns} if columns else None
    convert = pcsv.ConvertOptions(
        include_columns=list(columns) if columns else None,
        column_types=types,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return pcsv.ReadOptions(block_size=1 << 22, use_threads=False), convert


def _scan_csv(path: Path) -> tuple[list[str], int]:
    """Column names and row count of a CSV, read once in streaming blocks: a malformed line
    (more fields than the header) is one clear error before the screen starts."""
    import pyarrow.csv as pcsv

    read, _ = _csv_options(None)
    with pcsv.open_csv(path, read_options=read) as stream:
        names = stream.schema.names
    _, convert = _csv_options(names[:1])
    n = 0
    with pcsv.open_csv(path, read_options=read, convert_options=convert) as stream:
        for batch in stream:
            n += batch.num_rows
    return names, n


def _open_csv(path: Path, columns: Sequence[str]):
    import pyarrow.csv as pcsv

    read, convert = _csv_options(columns)
    with pcsv.open_csv(path, read_options=read, convert_options=convert) as stream:
        yield from stream


def _rechunk(batches, size: int):
    """``(index, start, table)`` of exactly ``size`` rows (the last may be shorter)."""
    import pyarrow as pa

    pending, n_pending, start, index = [], 0, 0, 0
    for batch in batches:
        pending.append(batch)
        n_pending += batch.num_rows
        while n_pending >= size:
            table = pa.Table.from_batches(pending)
            yield index, start, table.slice(0, size)
            rest = table.slice(size)
            pending, n_pending = rest.to_batches(), rest.num_rows
            start, index = start + size, index + 1
    if n_pending:
        yield index, start, pa.Table.from_batches(pending)


# structure collections ------------------------------------------------------------------------


def _structure_names(names) -> tuple[list[str], list[str]]:
    """Sorted names of structure files (CIF, POSCAR/CONTCAR/*.vasp, XYZ) and of the others."""
    from bandgaps.data.structures import text_format

    names = sorted(names)
    return [n for n in names if text_format(n)], [n for n in names if not text_format(n)]


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ""  # an empty text: the worker reports the file as unreadable, with its name


def _named_texts(names: list[str], read) -> object:
    def reader(size: int, skip: set[int]) -> Iterator[Partition]:
        for index in range(math.ceil(len(names) / size)):
            if index in skip:
                continue
            chunk = names[index * size : (index + 1) * size]
            yield Partition(
                index, index * size, [_decode(n, read(n)) for n in chunk], names=list(chunk)
            )

    return reader


def _zip_source(path: Path) -> Source:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {
                i.filename: i
                for i in zf.infolist()
                if not i.is_dir() and not Path(i.filename).name.startswith(".")
            }
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"Cannot open the zip file {path}: {exc}") from None
    names, ignored = _structure_names(infos)
    if not names:
        raise InputError(f"Zip file {path} holds no CIF, POSCAR or XYZ files")
    # sizes as the zip's directory declares them, checked before anything is inflated
    _check_sizes({n: infos[n].file_size for n in names}, f"Zip file {path}")

    def reader(size: int, skip: set[int]):
        with zipfile.ZipFile(path) as zf:

            def read(name: str) -> bytes:  # never more than the member declared
                with zf.open(infos[name]) as fh:
                    return fh.read(MAX_STRUCTURE_BYTES + 1)

            yield from _named_texts(names, read)(size, skip)

    return Source(path, "structures", len(names), reader, _signature(path), ignored)


def _check_sizes(sizes: dict[str, int], what: str) -> None:
    big = [(n, b) for n, b in sizes.items() if b > MAX_STRUCTURE_BYTES]
    if big:
        name, size = big[0]
        raise InputError(
            f"{what}: {name} holds {size:,} bytes, more than the {MAX_STRUCTURE_BYTES:,} a "
            f"structure file may hold ({len(big)} such file(s)); leave it out of the input"
        )


def _xyz_frames(path: Path) -> Iterator[str]:
    """The text of each frame of an (extended) XYZ file: a count line, a comment line and that
    many atom lines."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        line_no = 0
        while True:
            head = fh.readline()
            line_no += 1
            if not head:
                return
            if not head.strip():
                continue
            try:
                n = int(head.split()[0])
            except ValueError:
                raise InputError(
                    f"{path}, line {line_no}: expected the atom count of a frame, found "
                    f"{head.strip()[:40]!r}"
                ) from None
            if not 1 <= n <= MAX_FRAME_ATOMS:
                raise InputError(
                    f"{path}, line {line_no}: a frame of {n:,} atoms (a frame holds 1 to "
                    f"{MAX_FRAME_ATOMS:,})"
                )
            body = list(itertools.islice(fh, n + 1))
            line_no += len(body)
            yield head + "".join(body)


def _xyz_source(path: Path) -> Source:
    n = sum(1 for _ in _xyz_frames(path))
    if n == 0:
        raise InputError(f"XYZ file {path} holds no frames")

    def reader(size: int, skip: set[int]):
        frames = _xyz_frames(path)
        for index in itertools.count():
            chunk = list(itertools.islice(frames, size))
            if not chunk:
                return
            if index in skip:
                continue
            start = index * size
            names = [f"{path.name}#{start + k}" for k in range(len(chunk))]
            yield Partition(index, start, chunk, names=names)

    return Source(path, "structures", n, reader, _signature(path))


# generated chemical spaces --------------------------------------------------------------------


def chemical_space(
    elements: Sequence[str],
    max_elements: int = 3,
    max_coefficient: int = 3,
    limit: int | None = None,
) -> list[str]:
    """Every composition of 2 … ``max_elements`` of ``elements`` with whole coefficients up to
    ``max_coefficient`` in lowest terms (``Si2Ge2`` is ``SiGe``, listed once).

    Args:
        elements: element symbols, in the order the formulas name them.
        max_elements: the most elements in one formula.
        max_coefficient: the largest whole coefficient.
        limit: only the first ``limit`` formulas (the rest are never generated).

    Returns:
        The formulas, binaries first.

    Examples:
        >>> chemical_space(["Ga", "As"], max_coefficient=2)
        ['GaAs', 'GaAs2', 'Ga2As']
        >>> len(chemical_space(["A" + str(i) for i in range(3)], 3, 1))
        4
        >>> chemical_space(["Ga", "As"], max_coefficient=2, limit=2)
        ['GaAs', 'GaAs2']
    """

    def generate():
        for k in range(2, max_elements + 1):
            for combo in itertools.combinations(elements, k):
                for coeffs in itertools.product(range(1, max_coefficient + 1), repeat=k):
                    if math.gcd(*coeffs) == 1:
                        yield "".join(
                            el + (str(c) if c > 1 else "")
                            for el, c in zip(combo, coeffs, strict=True)
                        )

    return list(itertools.islice(generate(), limit))


__all__ = ["Partition", "Source", "chemical_space", "open_source"]
