"""The node with a learning brain over real DDS: weights published, kept or reset."""

import json
import shutil

from feagi_hailo_ros.ros.node import FeagiHailoNode
from feagi_hailo_ros.ros.plastic_weights import read_weights
import numpy as np
import pytest
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from ros_harness import make_executor, spin_until
from std_msgs.msg import Float32MultiArray

pytestmark = pytest.mark.ros


@pytest.fixture
def genome_path(data_dir, tmp_path):
    """A copy of the plastic conformance genome (a test may edit it)."""
    path = tmp_path / 'plastic_basic.json'
    shutil.copy(data_dir / 'conformance' / 'plastic_basic.json', path)
    return path


@pytest.fixture
def injections(data_dir):
    """The conformance vector's injections by burst (0..119)."""
    by_burst = {}
    for line in (data_dir / 'conformance' / 'plastic_basic.inject.jsonl').read_text().splitlines():
        row = json.loads(line)
        by_burst.setdefault(row['burst'], []).append(row)
    return by_burst


def make_node(genome, **overrides) -> FeagiHailoNode:
    values = {'genome': str(genome), 'autostart': False, 'burst_rate_hz': 50.0,
              'viz_rate_hz': 0.0}
    values.update(overrides)
    return FeagiHailoNode(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


class Injector:
    """Queue the vector's injections of the engine's next burst, once per burst."""

    def __init__(self, node, injections):
        self.node, self.injections, self.done = node, injections, -1

    def __call__(self) -> None:
        runtime = self.node.runtime
        if runtime is None or runtime.engine.burst_count == self.done:
            return
        self.done = runtime.engine.burst_count
        for row in self.injections.get(self.done % 120, ()):
            runtime.engine.inject(row['area'], row['x'], row['y'], row['z'], row['p'])


@pytest.fixture
def running(ros_context, genome_path, injections):
    """A node on the plastic genome, a subscriber to its weights, and an injector."""
    node = make_node(genome_path, publish_weights_hz=100.0)
    probe = rclpy.create_node('feagi_weights_probe')
    received = []
    probe.create_subscription(Float32MultiArray, '/feagi_hailo/plastic_weights',
                              received.append, 10)
    executor = make_executor(node, probe)
    try:
        yield node, executor, received, Injector(node, injections)
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


def _weights(msg):
    return np.concatenate([rows[:, 6] for _, rows in read_weights(msg)])


def test_weights_are_published_and_change_as_the_brain_learns(running):
    node, executor, received, inject = running
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    built = node.runtime.plastic_weights()
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def changed():
        return len(received) >= 2 and not np.array_equal(
            _weights(received[0]), _weights(received[-1]))

    assert spin_until(executor, changed, 20.0, every=inject), f'{len(received)} messages'
    blocks = read_weights(received[-1])
    assert [label for label, _ in blocks] == [f'{s}->{d}' for s, d in built.pairs]
    assert [rows.shape for _, rows in blocks] == [(4, 7)] * 17
    label, rows = blocks[0]
    assert label == 'cp01a0->cp01b0'
    np.testing.assert_array_equal(rows[:, :6], [[x, 0, 0, x, 0, 0] for x in range(4)])
    assert dict(blocks)['cp11a0->cp11b0'][0, 6] < 0          # inhibitory: negative
    # every burst publishes (100 Hz asked, 50 Hz bursts): the last message is the state now
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    spin_until(executor, lambda: False, 0.5)
    np.testing.assert_array_equal(_weights(received[-1]), node.runtime.plastic_weights().weight)
    # 0 turns it off, live
    assert node.set_parameters([Parameter('publish_weights_hz', value=0.0)])[0].successful
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    spin_until(executor, lambda: False, 0.3)
    received.clear()
    bursts = node.burst_stats().bursts
    spin_until(executor, lambda: False, 0.5, every=inject)
    assert node.burst_stats().bursts > bursts and not received


def _learn(node, executor, inject):
    """Configure, activate, burst until the weights moved from the built ones; deactivate."""
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    built = node.runtime.plastic_weights().weight.copy()
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert spin_until(executor, lambda: node.burst_stats().bursts > 20, 20.0, every=inject)
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    learned = node.runtime.plastic_weights().weight.copy()
    assert not np.array_equal(learned, built)
    return built, learned


def test_keep_learned_weights_across_cleanup_and_configure(running, genome_path):
    node, executor, _, inject = running
    assert node.get_parameter('keep_learned_weights').value is True      # the default
    built, learned = _learn(node, executor, inject)
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    np.testing.assert_array_equal(node.runtime.plastic_weights().weight, learned)

    # false: the next configure starts from the weights as built
    assert node.set_parameters([Parameter('keep_learned_weights', value=False)])[0].successful
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    np.testing.assert_array_equal(node.runtime.plastic_weights().weight, built)

    # true again, but the genome's plastic part was edited meanwhile: reset (with a warning)
    assert node.set_parameters([Parameter('keep_learned_weights', value=True)])[0].successful
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    built, learned = _learn(node, executor, inject)
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    genome = json.loads(genome_path.read_text())
    genome['blueprint']['_____10c-cp01a0-cx-dstmap-d']['cp01b0'][0][2] = 12   # weight 10 -> 12
    genome_path.write_text(json.dumps(genome))
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    now = node.runtime.plastic_weights().weight
    assert now[0] == 12.0 and np.array_equal(now[4:], built[4:])
