"""Fake of the compiled binding module `hailo_platform.pyhailort._pyhailort` (tests only)."""

__version__ = '4.23.0'


class HailoRTStatusException(Exception):
    """Raised unwrapped by Device.scan() and Device(id); str() is the status number."""
