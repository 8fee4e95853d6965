"""The machine description: defaults, overrides through the config, checks and fingerprints."""

import json

import pytest

from vta.isa import Config, ConfigError
from vta.isa.machine import Machine

PYNQ = Config.preset("pynq")


def test_defaults_are_those_of_the_pynq_build():
    machine = PYNQ.machine
    assert (machine.command_queue_depth, machine.fetch_buffer_depth, machine.max_burst_beats,
            machine.burst_boundary_bytes) == (512, 32, 16, 4096)
    assert machine.fetch_request_instructions == 16
    assert machine.loop_interval(gemm=True) == 1
    assert machine.loop_interval(gemm=False) == 1


def test_overrides_through_the_config_key_and_a_file(tmp_path):
    config = PYNQ.replace(MACHINE={"command_queue_depth": 16})
    assert config.machine.command_queue_depth == 16 and config.machine.fetch_buffer_depth == 32
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"MACHINE": {"max_burst_beats": 8, "alu_initiation_interval": 3}}))
    loaded = Config.from_file(path)
    assert loaded.machine.max_burst_beats == 8
    assert loaded.machine.loop_interval(gemm=False) == 3
    assert Config(**loaded.to_dict()) == loaded
    assert loaded.to_dict()["MACHINE"] == {"max_burst_beats": 8, "alu_initiation_interval": 3}


@pytest.mark.parametrize("overrides, message", [
    ({"command_queue_depth": 1}, "command_queue_depth = 1 is not an integer in 2..65536"),
    ({"fetch_buffer_depth": 7}, "fetch_buffer_depth = 7 is odd"),
    ({"burst_boundary_bytes": 3000}, "burst_boundary_bytes = 3000 is not a power of two"),
    ({"max_burst_beats": "16"}, "max_burst_beats = '16' is not an integer"),
    ({"max_burst_beats": True}, "max_burst_beats = True is not an integer"),
    ({"pack_multiplier_pairs": 1}, "pack_multiplier_pairs = 1 is not a boolean"),
    ({"queue_depth": 4}, "unknown machine parameter queue_depth"),
    ([1, 2], "MACHINE must be an object"),
])
def test_bad_values_are_one_line_errors_naming_the_parameter(overrides, message):
    with pytest.raises(ConfigError, match=message):
        PYNQ.replace(MACHINE=overrides)


def test_the_machine_is_in_the_fingerprint_not_in_the_isa_fingerprint():
    other = PYNQ.replace(MACHINE={"token_queue_depth": 8})
    assert other.fingerprint != PYNQ.fingerprint
    assert other.isa_fingerprint == PYNQ.isa_fingerprint
    assert PYNQ.replace(LOG_BLOCK=5).isa_fingerprint != PYNQ.isa_fingerprint
    assert Machine().replace(max_outstanding_reads=2).max_outstanding_reads == 2
