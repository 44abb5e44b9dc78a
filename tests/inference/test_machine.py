"""What the generate stage records about where it timed generation."""
import pytest

from stages.inference import machine


@pytest.mark.parametrize("cpuinfo, name", [
    ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13  64-Core Processor\nflags\t: sse\n",
     "AMD EPYC 7B13 64-Core Processor"),
    ("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\nModel\t: Raspberry Pi 4 Model B Rev 1.4\n",
     "Raspberry Pi 4 Model B Rev 1.4"),
    ("processor\t: 0\nmodel name\t: \nHardware\t: BCM2835\n", "BCM2835"),  # blank names are skipped
])
def test_the_cpu_model_from_cpuinfo(tmp_path, cpuinfo, name):
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    assert machine.cpu_model(tmp_path / "cpuinfo") == name


def test_the_gpu_is_named_only_for_a_gpu_run():
    record = machine.machine("cpu")
    assert "gpu" not in record and record["cpu_count"] >= 1 and record["load_average_1min"] >= 0
