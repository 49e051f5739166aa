"""``python -m lab3.reproduce``: the command; its code is ``lab3/book/reproduce.py``."""
import sys

from lab3.book.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
