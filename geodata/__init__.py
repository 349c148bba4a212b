"""Data model and I/O of the twin: models, migrations, CRS, importers, demo district.

This package imports none of the other project packages.
"""
