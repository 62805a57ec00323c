"""Names of the pruning methods of :mod:`lwfc.compress.prune`, in a module free of torch so
that the command line can list them without importing it (``lwfc --help`` starts in well
under a second)."""

METHODS = ("random_layer", "random_global", "l1", "l1_structured", "l2_structured", "l1_global")
#: The five methods the paper compares (figures 8, 9, 11).
PAPER_METHODS = METHODS[:5]
