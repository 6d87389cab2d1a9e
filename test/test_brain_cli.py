"""`feagi-hailo info` and `feagi-hailo synth`, run in-process through the dispatcher."""

import json
from pathlib import Path

from feagi_hailo_ros.cli.main import main
import pytest

DATA = Path(__file__).resolve().parent / 'data'
GENOMES = sorted(DATA.glob('*.json')) + sorted((DATA / 'conformance').glob('*.json'))


def info_json(capsys, path, *extra):
    """Run `info --json` and parse its output."""
    assert main(['info', str(path), '--json', *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('path', GENOMES, ids=lambda p: p.name)
def test_info_json_neurons_are_sum_xyzn(capsys, path):
    info = info_json(capsys, path)
    blueprint = json.loads(path.read_text())['blueprint']
    expected = {}
    for key, value in blueprint.items():
        if key.endswith('-cx-___bbx-i'):
            stem = key[:-len('___bbx-i')]
            area_id = stem[len('_____10c-'):-len('-cx-')]
            if len(area_id) == 6 and area_id[0] not in 'cio_':   # FEAGI: first byte c
                area_id = 'c' + area_id[1:]
            expected[area_id] = (
                value * blueprint[stem + '___bby-i'] * blueprint[stem + '___bbz-i']
                * blueprint.get(stem + '_n_cnt-i', 1))
    assert {a['id']: a['neurons'] for a in info['areas']} == expected
    assert info['neurons'] == sum(expected.values())
    assert info['synapses'] == sum(m['synapses'] for m in info['mappings'])
    for area in info['areas']:
        assert set(area) >= {'id', 'name', 'type', 'dimensions', 'neurons'}
    for mapping in info['mappings']:
        assert set(mapping) >= {'src', 'dst', 'morphology', 'synapses'}
    assert isinstance(info['warnings'], list)
    assert info['build_seconds'] >= 0 and info['memory_bytes'] > 0


def test_info_essential_by_hand(capsys):
    info = info_json(capsys, DATA / 'essential_genome.json')
    assert info['neurons'] == 55357
    by_pair = {(m['src'], m['dst']): m['synapses'] for m in info['mappings']}
    assert by_pair[('iic700', 'c__for')] == 16 * 16 * 3        # projector onto 1x1x1
    assert by_pair[('cRSMot', 'omot00')] == 1
    assert info['synapses'] == 2 * 768 + 16
    written = [k for k in json.loads((DATA / 'essential_genome.json').read_text())['blueprint']
               if k.endswith('-snooze-i')]
    assert len(written) == 24
    assert all(sum(f"'{k}'" in w for w in info['warnings']) == 1 for k in written)
    types = {a['id']: a['type'] for a in info['areas']}
    assert types['_power'] == 'core' and types['iic400'] == 'input'
    assert types['omot00'] == 'output' and types['c__for'] == 'custom'


def test_info_text_output(capsys):
    assert main(['info', str(DATA / 'leak_test_1_23.json')]) == 0
    out = capsys.readouterr().out
    assert 'totals: 7 areas, 7 neurons, 8 synapses' in out
    assert 'c9UIPS -> cR3ind' in out and 'warnings: ' in out


def test_info_error_is_one_clear_line(capsys, tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text('{"blueprint": {"_____10c-cabc00-cx-___bbx-i": 0}}')
    assert main(['info', str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('feagi-hailo info: error: genome ') and str(path) in err
    assert "'cabc00'" in err and '___bb' in err and '\n' not in err


def test_synth_then_info_matches(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv('FEAGI_HAILO_CACHE', str(tmp_path / 'cache'))
    out = tmp_path / 'brain.json'
    assert main(['synth', '--neurons', '20000', '--fanout', '6', '--out', str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    info = info_json(capsys, out)
    assert abs(info['neurons'] - 20000) < 3000
    assert abs(info['synapses'] / info['neurons'] - 6) < 1
    assert [a['type'] for a in info['areas']].count('input') == 1
    first = info_json(capsys, out, '--cache')
    cached = info_json(capsys, out, '--cache')
    assert not first['from_cache'] and cached['from_cache']
    assert (cached['neurons'], cached['synapses']) == (info['neurons'], info['synapses'])
    assert cached['mappings'] == info['mappings']
    assert len(list((tmp_path / 'cache').iterdir())) == 1


def test_synth_demo_and_info_demo(capsys, tmp_path):
    out = tmp_path / 'demo.json'
    assert main(['synth', '--demo', '--out', str(out)]) == 0
    capsys.readouterr()
    from_file = info_json(capsys, out)
    built_in = info_json(capsys, 'demo')
    assert from_file['neurons'] == built_in['neurons'] and from_file['synapses'] > 0
    assert any(a['id'] == 'omot00' for a in built_in['areas'])


def test_long_builds_show_progress_on_stderr(capsys, tmp_path):
    out = tmp_path / 'big.json'
    assert main(['synth', '--neurons', '150000', '--fanout', '8', '--out', str(out)]) == 0
    capsys.readouterr()
    assert main(['info', str(out), '--json']) == 0
    captured = capsys.readouterr()
    assert 'building:' in captured.err and '100.0%' in captured.err
    assert json.loads(captured.out)['synapses'] > 1_000_000


def test_synth_plastic_share(capsys, tmp_path):
    out = tmp_path / 'plastic.json'
    assert main(['synth', '--neurons', '20000', '--plastic-share', '1', '--plastic-params',
                 '1,3,1,2', '--out', str(out)]) == 0
    assert 'plastic 9/9 pairs' in capsys.readouterr().out
    rules = [r for key, value in json.loads(out.read_text())['blueprint'].items()
             if key.endswith('-cx-dstmap-d') for rs in value.values() for r in rs]
    assert rules and all(r[3:] == [True, 1, 3, 1, 2] for r in rules)
    with pytest.raises(SystemExit):
        main(['synth', '--neurons', '20000', '--plastic-share', '2', '--out', str(out)])
    assert 'expected a share from 0 to 1' in capsys.readouterr().err


def test_info_lists_plastic_pairs_with_parameters_and_synapses(capsys, tmp_path):
    genome = json.loads((DATA / 'conformance' / 'plastic_basic.json').read_text())
    rules = genome['blueprint']['_____10c-cp01a0-cx-dstmap-d']
    rules['cp01b0'].append(['plus1', [1, 1, 1], 5, False])    # static rule, same pair
    rules['cp02b0'] = [['block_to_block', [1, 1, 1], 5, False]]  # static pair: not listed
    path = tmp_path / 'plastic.json'
    path.write_text(json.dumps(genome))
    pairs = info_json(capsys, path)['plastic_pairs']
    assert [(p['src'], p['dst']) for p in pairs] == [
        (f'cp{i:02}a0', f'cp{i:02}b0') for i in range(1, 18)]
    first = pairs[0]
    assert first['synapses'] == 4 + 3        # every synapse of a plastic pair is plastic
    assert first['parameters'] == {'constant': 1, 'ltp': 3, 'ltd': 2, 'window': 1,
                                   'mode': 'stdp', 'eta': 1.0, 'max_weight': None}
    assert first['rule'] == 'stdp, c 1, ltp 3, ltd 2, window 1, d+ 3, d- 2'
    assert all(p['synapses'] == 4 for p in pairs[1:])
    assert main(['info', str(path)]) == 0
    text = capsys.readouterr().out
    assert 'cp01a0 -> cp01b0                          7  stdp, c 1, ltp 3, ltd 2' in text
    assert main(['info', str(DATA / 'essential_genome.json')]) == 0
    assert 'plastic pair' not in capsys.readouterr().out
