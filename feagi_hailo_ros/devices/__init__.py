"""Devices that run brain partitions: CPU, Hailo-8 (HailoRT), emulated Hailo (ROS-free)."""
