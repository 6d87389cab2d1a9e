"""The fast engine against the reference oracle; the neuron rules one by one (NEURON_MODEL §4)."""

from collections import Counter

from feagi_hailo_ros.engine.core import BurstEngine
from feagi_hailo_ros.engine.model import EngineModel
from feagi_hailo_ros.engine.params import NeuronParams
from feagi_hailo_ros.engine.reference import (driven_psp, excitability_draw, pcg_hash,
                                              ReferenceEngine)
from feagi_hailo_ros.testing.workloads import random_brain
import numpy as np
import pytest

SEEDS = range(40)
RULES = ('leak', 'refractory_candidate_discarded', 'charge_reset', 'above_threshold_limit',
         'excitability_draw_pass', 'excitability_draw_fail', 'excitability_failed',
         'mp_driven_psp', 'psp_divided', 'psp_undivided', 'injection_zero_discarded', 'power',
         'gradient_fire', 'limit_reached_on_fire', 'snooze_end_count_reset',
         'zero_input_candidate', 'consecutive_limit_skip', 'negative_input_ignored')


def run_pair(brain, engines, bursts=None):
    """Run the reference and engines on the same injections; return the reference."""
    ref = ReferenceEngine(brain.model)
    for step, (idx, pot) in enumerate(brain.injections[:bursts]):
        ref.inject_indices(idx, pot)
        for engine in engines:
            engine.inject_indices(idx, pot)
        expected = ref.burst()
        for engine in engines:
            got = engine.burst()
            assert np.array_equal(got, expected), (
                f'burst {step}: engine {engine.partitions} fired {got.tolist()}, '
                f'reference {expected.tolist()}')
            state = engine.state     # counters widened to uint16[N] as a checkpoint holds
            np.testing.assert_array_equal(state.potential, ref.potential)
            np.testing.assert_array_equal(state.refractory_countdown, ref.refractory_countdown)
            np.testing.assert_array_equal(state.consecutive_fires, ref.consecutive_fires)
    return ref


def test_random_brains_match_reference_and_exercise_every_rule():
    """Fast engine (1, 2 threaded, 3 partitions) == reference on 40 random brains."""
    hits = Counter()
    fired_total = 0
    for seed in SEEDS:
        brain = random_brain(seed, bursts=80)
        engines = [BurstEngine(brain.model), BurstEngine(brain.model, 2, threads=True),
                   BurstEngine(brain.model, 3)]
        try:
            ref = run_pair(brain, engines)
        finally:
            for engine in engines:
                engine.close()
        hits += ref.rule_hits
        fired_total += int(engines[0].burst_count)
    missing = [rule for rule in RULES if hits[rule] < 5]
    assert not missing, f'random brains did not exercise {missing}: {hits}'
    assert fired_total > 0


def test_hypothesis_random_brains():
    """Property: any random brain, any size, agrees burst for burst."""
    hypothesis = pytest.importorskip('hypothesis')
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=25, deadline=None)
    @hypothesis.given(seed=st.integers(0, 2 ** 31), areas=st.integers(2, 6),
                      size=st.integers(1, 40))
    def check(seed, areas, size):
        brain = random_brain(seed, bursts=40, max_area_size=size, n_areas=areas)
        engine = BurstEngine(brain.model, 2)
        run_pair(brain, [engine])

    check()


def one_area(**genes):
    """A brain of one area of `n` neurons (default 1) without synapses."""
    n = genes.pop('n', 1)
    params = NeuronParams.from_arrays([0, n], **genes)
    return EngineModel.from_arrays(params, np.zeros(n + 1, np.int64), [], [])


def fire_pattern(model, inject, bursts):
    """Inject `inject` into neuron 0 every burst; return the fired flag of each burst."""
    engines = [ReferenceEngine(model), BurstEngine(model)]
    pattern = []
    for _ in range(bursts):
        flags = set()
        for engine in engines:
            engine.inject_indices([0], [inject])
            flags.add(bool(engine.burst().size))
        assert len(flags) == 1, 'reference and engine disagree'
        pattern.append(flags.pop())
    return pattern


def test_refractory_blocks_the_next_bursts():
    """Refractory 2: a neuron driven every burst fires every third burst."""
    model = one_area(fire_threshold=1.0, refractory=2, mp_charge_accumulation=True)
    assert fire_pattern(model, 5.0, 9) == [True, False, False] * 3


def test_consecutive_limit_skips_one_burst():
    """Limit 2, refractory 0, snooze 0: fire, fire, skip (the count resets)."""
    model = one_area(fire_threshold=1.0, consecutive_limit=2, mp_charge_accumulation=True)
    assert fire_pattern(model, 5.0, 9) == [True, True, False] * 3


def test_snooze_extends_refractory_at_the_limit():
    """Limit 1, refractory 1, snooze 2: after each fire three bursts are blocked."""
    model = one_area(fire_threshold=1.0, consecutive_limit=1, refractory=1, snooze=2,
                     mp_charge_accumulation=True)
    assert fire_pattern(model, 5.0, 8) == [True, False, False, False] * 2


def test_threshold_limit_window():
    """V above the threshold limit does not fire (and leaks)."""
    model = one_area(fire_threshold=1.0, threshold_limit=3.0, mp_charge_accumulation=True)
    assert fire_pattern(model, 4.0, 3) == [False] * 3
    assert fire_pattern(one_area(fire_threshold=1.0, threshold_limit=3.0), 2.0, 3) == [True] * 3


def test_leak_applies_only_to_candidates_and_charge_reset():
    """Leak on a non-fired candidate; a non-candidate keeps V; mp_acc off zeroes V."""
    model = one_area(n=2, fire_threshold=10.0, leak=0.5, mp_charge_accumulation=True)
    for engine in (ReferenceEngine(model), BurstEngine(model)):
        engine.inject_indices([0, 1], [4.0, 4.0])
        engine.burst()
        engine.inject_indices([0], [4.0])
        engine.burst()
        v = engine.potential if isinstance(engine, ReferenceEngine) else \
            engine.state_arrays.potential
        assert v.tolist() == [np.float32((4 * 0.5 + 4) * 0.5), np.float32(2.0)]
    reset = one_area(fire_threshold=10.0, leak=0.0, mp_charge_accumulation=False)
    assert fire_pattern(reset, 6.0, 3) == [False] * 3


def test_negative_input_under_charge_accumulation_keeps_v_but_stays_a_candidate():
    """mp_charge_accumulation: a negative sum adds 0; the candidate still leaks, may fire.

    Without accumulation the negative sum is added as usual (V starts from 0 each burst).
    """
    model = one_area(n=2, fire_threshold=5.0, leak=0.5, mp_charge_accumulation=True)
    for engine in (ReferenceEngine(model), BurstEngine(model)):
        engine.inject_indices([0, 1], [4.0, 4.0])
        engine.burst()                                  # V = 4 * 0.5 = 2 (leak), both
        engine.inject_indices([0], [-3.0])              # 0: negative sum -> V kept, leaks
        engine.burst()
        v = engine.potential if isinstance(engine, ReferenceEngine) else \
            engine.state_arrays.potential
        assert v.tolist() == [np.float32(1.0), np.float32(2.0)]
    # a candidate whose V is already at threshold fires on a negative input
    model = one_area(fire_threshold=3.0, threshold_limit=0.0, mp_charge_accumulation=True)
    for engine in (ReferenceEngine(model), BurstEngine(model)):
        engine.inject_indices([0], [2.9])
        assert engine.burst().tolist() == []            # V = 2.9 (no leak)
        engine.inject_indices([0], [0.1])
        engine.inject_indices([0], [-5.0])              # sum -4.9 -> 0 added: V stays 2.9
        assert engine.burst().tolist() == []
        engine.inject_indices([0], [0.5])
        assert engine.burst().tolist() == [0]           # 2.9 + 0.5 crosses 3
    plain = one_area(n=1, fire_threshold=-2.0, mp_charge_accumulation=False)
    for engine in (ReferenceEngine(plain), BurstEngine(plain)):
        engine.inject_indices([0], [-1.0])              # V = 0 - 1 = -1 >= -2: fires
        assert engine.burst().tolist() == [0]


def test_power_area_gets_one_each_burst():
    """The power neuron fires every burst with threshold 1 and no other input."""
    params = NeuronParams.from_arrays([0, 1, 2], fire_threshold=1.0, power_neurons=[0])
    model = EngineModel.from_arrays(params, np.zeros(3, np.int64), [], [])
    engine = BurstEngine(model)
    assert [engine.burst().tolist() for _ in range(3)] == [[0]] * 3


def test_zero_injection_is_discarded_but_zero_sum_is_a_candidate():
    """An injection of 0 makes no candidate; +1 and -1 summing to 0 does."""
    model = one_area(n=2, fire_threshold=-1.0)      # a candidate with V = 0 fires
    for engine in (ReferenceEngine(model), BurstEngine(model)):
        engine.inject_indices([0, 1, 1], [0.0, 1.0, -1.0])
        assert engine.burst().tolist() == [1]


def test_driven_psp_rounds_half_away_from_zero_and_clamps():
    """mp_driven_psp: round half away from zero, clamp to 0..255."""
    assert [driven_psp(np.float32(v)) for v in (2.5, 2.4999998, 0.5, 300.0, -3.0, 254.5)] \
        == [3, 2, 1, 255, 0, 255]


def test_mp_driven_psp_in_the_kernel_matches():
    """A source firing at V = 2.5 sends psp 3; at 300, 255 (divided by its 2 synapses)."""
    params = NeuronParams.from_arrays([0, 2, 4], fire_threshold=[1.0, 1000.0],
                                      mp_driven_psp=[True, False],
                                      mp_charge_accumulation=True)
    model = EngineModel.from_arrays(params, [0, 2, 4, 4, 4], [2, 3, 3, 2], [1, 1, 1, -1])
    for engine in (ReferenceEngine(model), BurstEngine(model)):
        engine.inject_indices([0, 1], [2.5, 300.0])
        engine.burst()
        engine.burst()
        v = engine.potential if isinstance(engine, ReferenceEngine) else \
            engine.state_arrays.potential
        # neuron 2's sum 3/2 - 255/2 is negative: under charge accumulation it adds 0
        assert v[2:].tolist() == [np.float32(0.0), np.float32(3 / 2) + np.float32(255 / 2)]


def test_excitability_hash_matches_an_independent_uint32_computation():
    """The PCG draw equals a numpy uint32 computation of NEURON_MODEL §4's formula."""
    ids = np.array([7, 8, 1000, 123456], dtype=np.uint32)
    for burst in (1, 2, 77):
        with np.errstate(over='ignore'):
            seed = ids * np.uint32(2654435761) + np.uint32(burst) * np.uint32(1597334677)
            s = seed * np.uint32(747796405) + np.uint32(2891336453)
            w = ((s >> ((s >> np.uint32(28)) + np.uint32(4))) ^ s) * np.uint32(277803737)
            expected = ((w >> np.uint32(22)) ^ w).astype(np.float32) / np.float32(2 ** 32)
        got = [excitability_draw(int(i), burst) for i in ids]
        assert np.array_equal(np.array(got, np.float32), expected)
        assert pcg_hash(int(seed[0])) == int(((w >> np.uint32(22)) ^ w)[0])


def test_excitability_uses_the_recorded_burst_plus_one():
    """A probabilistic neuron fires in recorded burst b iff draw(id, b + 1) < e."""
    model = one_area(fire_threshold=0.5, excitability=0.5)
    engine = BurstEngine(model)
    neuron_id = int(model.params.excitability_id[0])
    for burst in range(30):
        engine.inject_indices([0], [1.0])
        fired = bool(engine.burst().size)
        assert fired == bool(excitability_draw(neuron_id, burst + 1) < np.float32(0.5))
