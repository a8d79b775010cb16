"""Descriptive statistics of an MP snapshot (the tables themselves: ``bandgaps.data.tables``)."""

from __future__ import annotations

from collections import Counter

import pandas as pd


def is_metal(df: pd.DataFrame, gap: str = "band_gap") -> pd.Series:
    """Boolean Series: MP reports a gap of exactly zero (metal or semimetal at the PBE level).

    Args:
        df: a snapshot table.
        gap: its band-gap column.

    Returns:
        A boolean Series, one value per row.
    """
    return df[gap] == 0


def summary(df: pd.DataFrame, gap: str = "band_gap") -> dict[str, float]:
    """Headline numbers of a snapshot: size, distinct formulas and elements, metal share, gaps.

    Args:
        df: a snapshot table.
        gap: its band-gap column.

    Returns:
        The numbers by name.

    Examples:
        >>> import pandas as pd
        >>> from pymatgen.core import Composition
        >>> df = pd.DataFrame({"formula": ["Si", "GaAs", "Fe"], "band_gap": [0.6, 0.2, 0.0],
        ...                    "composition": [Composition(f) for f in ["Si", "GaAs", "Fe"]]})
        >>> s = summary(df)
        >>> s["rows"], s["metals"], round(s["median gap of non-metals (eV)"], 2)
        (3, 1, 0.4)
    """
    metal = is_metal(df, gap)
    gaps = df.loc[~metal, gap]
    elements = {el.symbol for comp in df["composition"] for el in comp.elements}
    return {
        "rows": len(df),
        "distinct formulas": int(df["formula"].nunique()),
        "elements": len(elements),
        "metals": int(metal.sum()),
        "non-metals": int((~metal).sum()),
        "metal share": float(metal.mean()) if len(df) else float("nan"),
        "median gap of non-metals (eV)": float(gaps.median()) if len(gaps) else float("nan"),
        "mean gap of non-metals (eV)": float(gaps.mean()) if len(gaps) else float("nan"),
        "largest gap (eV)": float(df[gap].max()) if len(df) else float("nan"),
    }


def element_counts(df: pd.DataFrame) -> pd.Series:
    """Number of rows containing each element, most frequent first.

    Args:
        df: a snapshot table (a composition column).

    Returns:
        Rows per element, most frequent first.

    Examples:
        >>> import pandas as pd
        >>> from pymatgen.core import Composition
        >>> df = pd.DataFrame({"composition": [Composition("GaAs"), Composition("AlAs")]})
        >>> element_counts(df).to_dict()
        {'As': 2, 'Ga': 1, 'Al': 1}
    """
    counts = Counter(el.symbol for comp in df["composition"] for el in comp.elements)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], list(counts).index(kv[0])))
    return pd.Series(dict(ranked), name="materials", dtype=int)
