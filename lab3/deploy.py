"""``python -m lab3.deploy``: the command; its code is ``lab3/experiments/deploy.py``."""
import sys

from lab3.experiments.deploy import main

if __name__ == "__main__":
    sys.exit(main())
