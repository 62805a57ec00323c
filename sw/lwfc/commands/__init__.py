"""Subcommands of the ``lwfc`` CLI, one module each (see :mod:`lwfc.cli`)."""
