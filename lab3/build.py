"""``python -m lab3.build``: the command; its code is ``lab3/book/build.py``."""
import sys

from lab3.book.build import main

if __name__ == "__main__":
    sys.exit(main())
