"""Fake `hailo_platform.pyhailort` package (tests only)."""
