"""The thin ROS 2 layer: the lifecycle node and message conversions (the only rclpy users).

node.py             the `feagi_hailo` lifecycle node (executable `feagi_hailo_node`)
parameters.py       the ROS descriptors of the settings (runtime.settings)
sensor_inbox.py     newest message per input (callbacks store), encoded once per burst
sensor_values.py    Imu, LaserScan, Range, JointState, Image fields -> plain values
brain_viz.py        fired neurons -> PointCloud2, areas -> MarkerArray
diagnostics.py      the diagnostics task: burst loop and device health -> DiagnosticStatus
motion.py           cmd_vel (Twist / TwistStamped) and motor_commands messages
synthetic_camera.py a camera stand-in (executable `feagi_hailo_camera`)
"""
