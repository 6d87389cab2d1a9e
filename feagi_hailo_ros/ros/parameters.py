"""The ROS parameter descriptors of the node's settings (runtime.settings holds the table)."""

from feagi_hailo_ros.runtime.settings import ParamSpec
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """Return the ROS descriptor of a setting: description, range and read_only flag."""
    result = ParameterDescriptor(
        name=spec.name, description=spec.description, read_only=spec.read_only)
    if spec.choices:
        result.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    if spec.value_range is not None and not isinstance(spec.default, bool):
        low, high = spec.value_range
        if isinstance(spec.default, int):
            result.integer_range = [
                IntegerRange(from_value=int(low), to_value=int(high), step=0)]
        else:
            result.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
    return result
