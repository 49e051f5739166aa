"""``python -m lab3.predict``: the command; its code is ``lab3/runtime/predict.py``."""
import sys

from lab3.runtime.predict import main

if __name__ == "__main__":
    sys.exit(main())
