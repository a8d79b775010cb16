"""Analyses that the site pages call: each returns tables (DataFrames) the pages plot."""
