"""What every study shares: the seed, regression metrics, splits and input digests."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from bandgaps.config import SEED


def regression_metrics(y, pred) -> dict[str, float]:
    """MAE, RMSE and R² (and the count) of predictions against targets.

    Examples:
        >>> regression_metrics([0.0, 1.0, 2.0], [0.0, 1.0, 3.0])["MAE"]
        0.3333333333333333
    """
    y = np.asarray(y, float)
    pred = np.asarray(pred, float)
    err = pred - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {
        "n": len(y),
        "MAE": float(np.abs(err).mean()),
        "RMSE": float(np.sqrt((err**2).mean())),
        "R2": float(1 - (err**2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
    }


def metal_stratified_split(
    df: pd.DataFrame, gap: str = "band_gap", test_size: float = 0.2, seed: int = SEED
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """80:20 train/test split stratified by metal (gap = 0) / non-metal, as the reference did."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        df, test_size=test_size, random_state=seed, stratify=(df[gap] == 0)
    )
    return train, test


def subsample(df: pd.DataFrame, max_rows: int | None, seed: int = SEED) -> pd.DataFrame:
    """At most ``max_rows`` rows, drawn with the seed and kept in their original order."""
    if max_rows is None or len(df) <= max_rows:
        return df
    return df.sample(n=max_rows, random_state=seed).sort_index()


def digest(*parts) -> str:
    """sha256 over arrays (their bytes) and anything else (its text): a cache-key part."""
    h = hashlib.sha256()
    for part in parts:
        h.update(np.asarray(part).tobytes() if isinstance(part, np.ndarray) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


__all__ = ["SEED", "digest", "metal_stratified_split", "regression_metrics", "subsample"]
