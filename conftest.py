"""Test settings: the nbval kernels inherit this environment (no caches, no progress bars, fixed dates)."""
import os

os.environ["LAB3_CACHE"] = "0"
os.environ["TQDM_DISABLE"] = "1"
os.environ["SOURCE_DATE_EPOCH"] = "0"

from lab3.base import numerics  # noqa: E402

numerics.pin()  # the tests compute under the same settings as the chapters (importing lab3 sets nothing)
