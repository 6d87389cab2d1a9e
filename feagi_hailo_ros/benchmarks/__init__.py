"""Benchmark code, shared by `feagi-hailo bench` and the scripts under bench/.

`engine`: the burst engine on a fixed workload; `hybrid`: CPU-only against CPU + emulated
(or replayed) devices on a synthetic vision brain.
"""
