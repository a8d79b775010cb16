"""Structures built by the package (Si–Ge alloy cells)."""
