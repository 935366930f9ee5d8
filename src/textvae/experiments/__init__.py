"""Experiments: thin scripts over the library.

- settings: what an experiment is (`Experiment`, the presets) and the registry of experiments;
- sweep: runs over models and target rates C, resumable, with `parallel` jobs (the machinery);
- figure1, table1 ... table4 (the paper's), compare (the remedies for collapse): each registers
  itself as `textvae experiment NAME`; results and plots write their outputs;
- demo: the built-in corpus, one small run, its numbers (`textvae demo`).
"""

# The built-in experiments register themselves on import.
from textvae.experiments import figure1, table1, table2, table3, table4  # noqa: F401, I001 - in the order listed
from textvae.experiments import compare  # noqa: F401, E402
from textvae.experiments.settings import (
    EXPERIMENTS, Experiment, ExperimentKind, ExperimentOptions, register_experiment,
)

__all__ = ["EXPERIMENTS", "Experiment", "ExperimentKind", "ExperimentOptions", "register_experiment"]
