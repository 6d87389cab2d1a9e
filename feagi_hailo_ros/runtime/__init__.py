"""The node's ROS-free runtime: everything the node does that is not moving messages.

loading.py       settings -> brain, engine (engine.factory), warm-up, start-up report
brain_runtime.py BrainRuntime: encoders in, one injection per burst, decoders out
learning.py      plastic pairs: their weights, the learned state carried over re-configure
settings.py      every setting: name, default, meaning, limits, validation
sensors.py       the sensor inputs: topic, the brain input each feeds, its area
motor_output.py  motor values held by a dead-man, and the differential drive
fired_view.py    which fired neurons a brain-view cloud shows
burst_clock.py   skip-not-queue scheduling, achieved rate, p50/p99, throttled warnings
launch_args.py   what the launch file's arguments become (shared with its tests)
params_file.py   params files on the node's command line; one-line start-up errors
"""
