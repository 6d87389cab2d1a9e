"""The thin ROS 2 layer: lifecycle node and message conversions."""
