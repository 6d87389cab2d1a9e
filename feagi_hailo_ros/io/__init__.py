"""Sensor encoders and motor decoders, as FEAGI 2.6 does them (ROS-free)."""  # noqa: A005
