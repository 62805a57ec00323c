"""lwfc: a lightweight fully connected network, from training to a bit-exact FPGA accelerator.

The host package holds data loading, training, quantization, compression, the model bundle,
the integer golden model (the single source of truth for the hardware), the driver and the CLI.
"""

__version__ = "0.1.0"
