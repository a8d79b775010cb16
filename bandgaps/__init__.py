"""bandgaps: machine-learned band gaps and other composition/structure targets.

The package is laid out as the pipeline it implements::

    bandgaps.data      pinned snapshots, the live MP query, cleaning rules
    bandgaps.cli       the ``bandgaps`` command

Heavy dependencies (TensorFlow, matminer featurizers) are imported only where used, so that
``import bandgaps`` and the CLI start quickly.
"""

from importlib.metadata import PackageNotFoundError, version

from bandgaps.errors import BandgapsError

try:
    __version__ = version("bandgaps")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["BandgapsError", "__version__"]
