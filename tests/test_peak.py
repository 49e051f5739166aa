import pytest

from lab3.measure import peak

INTEL = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
cpu MHz\t\t: 2600.000
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
cpu MHz\t\t: 2600.000
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni amx_tile amx_int8
"""


def test_read_cpu_parses_flags_cores_and_clock():
    cpu = peak.read_cpu(INTEL)
    assert (cpu.vendor, cpu.cores, cpu.mhz) == ("GenuineIntel", 2, 2600.0)
    assert {"avx512f", "amx_int8"} <= cpu.flags


def test_peak_is_cores_times_unit_times_clock():
    cpu = peak.read_cpu(INTEL)
    assert peak.unit(cpu, "int8") == "amx_int8" and peak.unit(cpu, "fp32") == "avx512f"
    assert peak.peak_macs(cpu, "fp32", 2) == 2 * 32 * 2.6e9
    assert peak.peak_macs(cpu, "int8", 2) == 2 * 1024 * 2.6e9
    assert peak.peak_macs(cpu, "fp32", 8) == peak.peak_macs(cpu, "fp32", 2)  # no more cores than the CPU has
    assert "fp32: 2 cores × 32 multiply-adds per cycle (avx512f) × 2.60 GHz = 166 G/s" == peak.describe(cpu, "fp32", 2)


def test_vnni_without_amx_and_amd_half_width():
    vnni = peak.read_cpu(INTEL.replace(" amx_tile amx_int8", ""))
    assert peak.peak_macs(vnni, "int8", 1) == 128 * 2.6e9
    amd = INTEL.replace("GenuineIntel", "AuthenticAMD").replace(" amx_tile amx_int8", "")
    zen4 = peak.read_cpu(amd.replace("vendor_id", "cpu family\t: 25\nvendor_id"))
    assert zen4.family == 25
    assert peak.peak_macs(zen4, "fp32", 1) == 16 * 2.6e9 and peak.peak_macs(zen4, "int8", 1) == 64 * 2.6e9
    zen5 = peak.read_cpu(amd.replace("vendor_id", "cpu family\t: 26\nvendor_id"))  # full 512-bit units
    assert peak.peak_macs(zen5, "fp32", 1) == 32 * 2.6e9 and peak.peak_macs(zen5, "int8", 1) == 128 * 2.6e9


def test_unknown_clock_or_unit_gives_no_peak():
    assert peak.peak_macs(peak.read_cpu(INTEL.replace("2600.000", "")), "fp32", 2) == 0.0
    assert peak.peak_macs(peak.read_cpu(""), "int8", 2) == 0.0
    assert "peak unknown" in peak.describe(peak.read_cpu(""), "int8", 2)
    with pytest.raises(ValueError, match="dtype must be one of"):
        peak.unit(peak.read_cpu(INTEL), "fp16")


def test_measured_ceilings_are_positive():
    assert peak.gemm_ceiling("fp32", n=64, min_time=0.01) > 0
    assert peak.gemm_ceiling("int8", n=64, min_time=0.01) > 0
    assert peak.read_bandwidth(1 << 16, min_time=0.01) > 0
    with pytest.raises(ValueError, match="dtype must be"):
        peak.gemm_ceiling("bf16", n=8)
