"""lab3: post-training quantization and structured pruning of an MNIST MLP, reproducibly.

Importing lab3 changes nothing in the process: the numerics settings (MKL's reproducible mode, the thread
count) are applied by ``lab3.base.numerics.pin()``, which the entry points (``python -m lab3.*``, the benchmarks)
and the chapters (``lab3.book.report.setup()``) call before they compute.
"""

__version__ = "0.1.0"
