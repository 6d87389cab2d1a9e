"""Fake `hailo_platform` (HailoRT 4.23 Python API surface) for tests without hardware.

Mirrors the real module layout; inference runs the HEF's ONNX graph (a fake HEF is the ONNX
file) on onnxruntime, quantised as HailoRT does with the quant_info each stream reports (taken
from the manifest.json next to it).
"""

import hailo_platform.pyhailort._pyhailort as _pyhailort
from hailo_platform.pyhailort.pyhailort import (  # noqa: F401
                                                AsyncInferJob, ConfigureParams, Device, DvmTypes,
                                                FormatType, HailoCommunicationClosedException,
                                                HailoRTException, HailoRTStreamAbortedByUser,
                                                HailoSchedulingAlgorithm, HailoStreamInterface,
                                                HEF, InferVStreams, InputVStreamParams,
                                                OutputVStreamParams, PowerMeasurementTypes,
                                                VDevice)

__version__ = '4.23.0'
if _pyhailort.__version__ != __version__:
    raise ImportError(f'_pyhailort version ({_pyhailort.__version__}) does not match '
                      f'pyhailort version ({__version__})')
