"""Experiments: thin scripts over the library (the demo now; the paper's figure and tables later)."""
