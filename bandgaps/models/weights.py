"""Where MEGNet weights come from: the pinned snapshot first, megnet's own download second.

Offline (the normal case here) the weights are read from ``../shared/models/megnet`` after
their checksums are verified. When a 2018 model file is missing from the snapshot, megnet's
own downloader (``megnet.utils.models._download_models``) fetches the ``mvl_models`` archive
into the package cache, and the files are checked against the same sha256 before use. The
multi-fidelity weights are not in that archive; they come only from the snapshot.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from bandgaps.config import cache_dir, shared_root
from bandgaps.errors import SnapshotError

#: catalog entry → path of the files inside megnet's ``mvl_models`` download archive
ARCHIVE_PATHS = {
    "megnet-2018-band-gap": "mvl_models/mp-2018.6.1/band_gap_regression.hdf5",
    "megnet-2018-metal-classifier": "mvl_models/mp-2018.6.1/band_classification.hdf5",
}
#: setting that overrides megnet's archive URL (a mirror, or a stand-in server in tests)
URL_SETTING = "BANDGAPS_MEGNET_URL"


def _default_url() -> str:
    import inspect

    from bandgaps.compat import import_megnet

    import_megnet()
    from megnet.utils import models as mu

    return inspect.signature(mu._download_models).parameters["url"].default


def weights_file(entry_name: str) -> Path:
    """Verified path of the main weight file of a catalog entry, downloading if need be.

    Args:
        entry_name: the catalog entry of a MEGNet model.

    Returns:
        The weight file (its checksum verified).
    """
    from bandgaps.data import catalog

    entry = catalog.get(entry_name)
    missing = [rel for rel, _ in entry.files if not (shared_root() / rel).is_file()]
    if not missing or entry_name not in ARCHIVE_PATHS:
        return catalog.verify(entry_name)  # verified, or one clear error naming the file
    return download_weights(entry_name)


def download_weights(entry_name: str, url: str | None = None) -> Path:
    """Fetch megnet's model archive with megnet's downloader; keep the entry's verified files.

    Args:
        entry_name: the catalog entry of a MEGNet model.
        url: the archive's address (default ``BANDGAPS_MEGNET_URL`` or megnet's own).

    Returns:
        The main weight file.
    """
    from bandgaps.data import catalog
    from bandgaps.files import sha256_file

    entry = catalog.get(entry_name)
    inner = ARCHIVE_PATHS[entry_name]
    target_dir = cache_dir() / "megnet-weights"
    targets = [target_dir / Path(rel).name for rel, _ in entry.files]
    if all(t.is_file() for t in targets) and all(
        sha256_file(t) == sha for t, (_, sha) in zip(targets, entry.files, strict=True)
    ):
        return targets[0]
    url = url or os.environ.get(URL_SETTING) or _default_url()

    from bandgaps.compat import import_megnet

    import_megnet()
    from megnet.utils import models as mu

    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
        archive = Path(tmp) / "mvl_models.zip"
        try:
            mu._download_models(url=url, file_path=str(archive))
        except zipfile.BadZipFile:
            raise SnapshotError(
                f"The MEGNet weights download from {url} is not a zip archive"
            ) from None
        except OSError as exc:
            raise SnapshotError(
                f"{entry_name} is missing from the shared snapshot and the download from {url} "
                f"failed ({exc}). Restore {shared_root() / entry.path} or go online."
            ) from None
        sources = [Path(tmp) / inner, Path(tmp) / (inner + ".json")]
        for src, (rel, sha), target in zip(sources, entry.files, targets, strict=True):
            if not src.is_file():
                raise SnapshotError(f"The archive from {url} has no {inner}")
            actual = sha256_file(src)
            if actual != sha:
                raise SnapshotError(
                    f"Downloaded {Path(rel).name} has sha256 {actual}, expected {sha}; "
                    "refusing to use it"
                )
            shutil.move(src, target)  # same file system: an atomic rename
    return targets[0]
