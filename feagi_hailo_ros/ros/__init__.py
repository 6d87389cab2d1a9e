"""The thin ROS 2 layer: lifecycle node and message conversions (the only rclpy users).

node.py             the `feagi_hailo` lifecycle node (executable `feagi_hailo_node`)
parameters.py       every parameter with its descriptor, range and validation
brain_runtime.py    genome -> engine/devices, encoders and decoders (no rclpy)
sensor_inbox.py     newest message per input (callbacks store), encoded once per burst
sensor_values.py    Imu, LaserScan, Range, JointState, Image fields -> plain values
brain_viz.py        fired neurons -> PointCloud2, areas -> MarkerArray
diagnostics_msg.py  burst-loop and device health -> DiagnosticArray
motion.py           cmd_vel (Twist / TwistStamped) and motor_commands messages
burst_clock.py      skip-not-queue scheduling, achieved rate, p50/p99 (no rclpy)
launch_args.py      what the launch file's arguments become (shared with its tests)
params_file.py      params files on the command line and one-line start-up errors (no rclpy)
synthetic_camera.py a camera stand-in (executable `feagi_hailo_camera`)
"""
