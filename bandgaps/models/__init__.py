"""Estimators: composition models, uncertainty, conformal intervals, model files."""
