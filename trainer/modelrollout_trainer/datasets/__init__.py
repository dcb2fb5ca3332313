"""Datasets: reading and writing tables, validating them, splitting them, building them from logs."""
