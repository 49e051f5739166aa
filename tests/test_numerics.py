"""Numerics profiles: what pin() sets, and that every profile keeps torchao's int8 product exact."""
import subprocess
import sys

import pytest

from lab3.base import numerics
from tests.helpers import unpinned_environment

INT_MM = """
import torch
from lab3.base import numerics
numerics.pin()
g = torch.Generator().manual_seed(0)
a = torch.randint(-128, 128, (64, 784), dtype=torch.int8, generator=g)
b = torch.randint(-128, 128, (784, 256), dtype=torch.int8, generator=g)
wrong = (torch._int_mm(a, b).to(torch.int64) != a.to(torch.int64) @ b.to(torch.int64)).sum().item()
print(wrong)
"""


def run_child(script: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter whose numerics variables are only ``env``'s."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**unpinned_environment(), **env})


@pytest.mark.parametrize("profile", sorted(numerics.PROFILES))
def test_int8_product_is_exact_under_every_profile(profile):
    """s8 x s8 -> s32 has one right answer; a profile that breaks it (oneDNN capped on a VNNI CPU) is refused."""
    run = run_child(INT_MM, LAB3_NUMERICS=profile)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-1] == "0", f"{profile}: {run.stdout.split()[-1]} of 16384 entries of torch._int_mm wrong"


def test_pin_sets_the_profile_and_keeps_what_the_user_set():
    """pin() fills in the profile's variables and the thread count, and leaves a variable already set alone."""
    script = ("import os, torch; from lab3.base import numerics; numerics.pin(); "
              "print(os.environ['MKL_CBWR'], os.environ.get('ATEN_CPU_CAPABILITY', '-'), torch.get_num_threads())")
    assert run_child(script, LAB3_NUMERICS="avx2", LAB3_THREADS="1").stdout.split() == ["AVX2,STRICT", "avx2", "1"]
    assert run_child(script, LAB3_NUMERICS="native").stdout.split() == ["AUTO,STRICT", "-", "2"]
    assert run_child(script, LAB3_NUMERICS="avx2", MKL_CBWR="COMPATIBLE").stdout.split()[0] == "COMPATIBLE"


def test_unknown_profile_or_thread_count_names_the_variable(monkeypatch):
    """A typo in LAB3_NUMERICS or LAB3_THREADS is one clear error naming the variable and the choices."""
    monkeypatch.setenv("LAB3_NUMERICS", "avx512")
    with pytest.raises(ValueError, match=r"LAB3_NUMERICS must be one of \['avx2', 'native'\], got 'avx512'"):
        numerics.profile()
    monkeypatch.setenv("LAB3_THREADS", "0")
    with pytest.raises(ValueError, match="LAB3_THREADS must be a positive integer"):
        numerics.threads()


def test_each_profile_compiles_into_its_own_cache():
    """Code torch.compile cached under one profile gave wrong int8 results under another: the caches are apart."""
    script = "import os; from lab3.base import numerics; numerics.pin(); print(os.environ['TORCHINDUCTOR_CACHE_DIR'])"
    native, avx2 = (run_child(script, LAB3_NUMERICS=p).stdout.split()[-1] for p in ("native", "avx2"))
    assert native != avx2 and native.endswith("lab3-native") and avx2.endswith("lab3-avx2")
    by_hand = run_child(script, ATEN_CPU_CAPABILITY="default").stdout.split()[-1]
    assert by_hand.endswith("lab3-native-aten-default")  # a capability set by hand is another cache again
    same = run_child(script, LAB3_NUMERICS="avx2", ATEN_CPU_CAPABILITY="avx2").stdout.split()[-1]
    assert same == avx2  # the profile's own value names no new one
