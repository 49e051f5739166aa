"""lab3: post-training quantization and structured pruning of an MNIST MLP, reproducibly."""
import logging as _logging

from lab3 import numerics as _numerics

# torch.utils.benchmark imports torch.utils.cpp_extension, whose CUDA_HOME notice is noise on a CPU machine.
_logging.getLogger("torch.utils.cpp_extension").setLevel(_logging.ERROR)
_numerics.pin()

__version__ = "0.1.0"
