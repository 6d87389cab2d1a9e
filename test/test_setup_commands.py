"""The README's two commands exist, CI calls the test command and nothing else."""

from pathlib import Path
import re

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    readme = (ROOT / 'README.md').read_text()
    return re.findall(r'```bash\n(bash scripts/[a-z_]+\.sh)\n```', readme)


def test_readme_gives_exactly_two_commands_that_exist():
    commands = _readme_commands()
    assert commands == ['bash scripts/run_demo.sh', 'bash scripts/test.sh']
    for command in commands:
        assert (ROOT / command.split()[1]).is_file()


def test_ci_runs_the_readme_test_command_and_nothing_else():
    lines = [line.strip() for line in (ROOT / '.ci' / 'run').read_text().splitlines()
             if line.strip() and not line.lstrip().startswith('#')]
    commands = [line for line in lines if not line.startswith(('set ', 'cd '))]
    assert commands == ['bash scripts/test.sh']


def test_generated_folders_are_ignored_by_git():
    ignored = (ROOT / '.gitignore').read_text().split()
    for folder in ('/.venv/', '/ws/'):
        assert folder in ignored
