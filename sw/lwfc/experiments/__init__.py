"""The paper's experiments, which train networks and compress them: Algorithm 1 and Table 1.

* :mod:`lwfc.experiments.search`  Algorithm 1 (the compression search) on Ray, resumable JSONL
  results; its bases come from a checkpoint or are trained from scratch with :mod:`lwfc.train`.
* :mod:`lwfc.experiments.table1`  the paper's Table 1 (PTQ, QAT, QAT+KD float / int teacher).

They sit above :mod:`lwfc.train` and :mod:`lwfc.compress`, which do not import each other.
"""
