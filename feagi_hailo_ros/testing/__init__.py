"""Test and benchmark aids that ship with the package (no robot runs them).

`cpu_device.CpuDevice` (a partition's integration in numpy), `replay` (record a device's
outputs and give them back), `faulty` (a device wrapper that fails, hangs and disconnects
on a plan), `workloads` (brains built from plain arrays: benchmark workloads, random
rule-exercising brains), `oracles` (what a device should return: `synaptic_currents`).
"""
