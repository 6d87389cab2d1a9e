"""Knobs of the fake `hailo_platform` (test only): boards, driver state, injected faults."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple


@dataclass
class FakeBoard:
    """One fake Hailo chip on the PCIe bus."""

    device_id: str = '0000:01:00.0'
    architecture: str = 'HAILO8'
    board_name: str = 'Hailo-8 AI ACC M.2 M KEY MODULE EXT TMP'
    firmware: str = '4.23.0'
    temperature_c: float = 47.5
    power_w: Optional[float] = 1.9          # None: no sensor (firmware refuses)
    used_by_other_process: bool = False


@dataclass
class FakeState:
    """What the fake library and driver look like, and what to break."""

    boards: List[FakeBoard] = field(default_factory=lambda: [FakeBoard()])
    driver_installed: bool = True
    driver_version: str = '4.23.0'
    library_version: str = '4.23.0'
    fail_on_run: Set[int] = field(default_factory=set)      # run/infer call numbers
    timeout_on_run: Set[int] = field(default_factory=set)
    runs: int = 0
    claimed: Set[str] = field(default_factory=set)          # ids held by our VDevices
    log: List[str] = field(default_factory=list)
    # what the next HEFs look like (stream order and quantisation) and what they get wrong
    shuffle_seed: Optional[int] = None      # permute the order of input and output streams
    swap_outputs: Tuple[str, ...] = ()      # two ONNX outputs whose streams trade places
    quant: Dict[str, dict] = field(default_factory=dict)    # ONNX name -> qp_scale, qp_zp
    corrupt_output: str = ''                # ONNX output one step off at one element ('*': all)


STATE = FakeState()


def reset(**kwargs) -> FakeState:
    """Reset the fake to one healthy Hailo-8 (fields overridable)."""
    fresh = FakeState(**kwargs)
    STATE.__dict__.clear()
    STATE.__dict__.update(fresh.__dict__)
    return STATE
