"""``python -m lab3.train``: the command; its code is ``lab3/experiments/train.py``."""
import sys

from lab3.experiments.train import main

if __name__ == "__main__":
    sys.exit(main())
