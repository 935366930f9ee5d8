"""Experiments: thin scripts over the library.

- demo: the built-in corpus, one small run, its numbers.
- sweep: runs over models and target rates C, resumable and parallel (the machinery).
- figure1, table1, table2: the paper's Figure 1 and Tables 1-2 over a sweep; plots: their figures.
"""
