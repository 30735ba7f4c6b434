"""How the compiled flow modules (editor/policy/flows/*.pyx, setup.py) are built and chosen: scripts/setup.sh builds
them again when any one is gone or was built for another Python (and installs into a new .venv), and
FENCELINE_PURE_FLOWS picks the Python reader and builder together."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "editor" / "policy" / "flows").glob("*.pyx"))
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")  # this Python's, e.g. ".cpython-311-x86_64-linux-gnu.so"
# What setup.sh needs on PATH besides a C compiler (which these tests leave out).
TOOLS = ["python3", "npm", "cat", "sha256sum", "cut", "mkdir", "dirname"]


def checkout(tmp_path: Path, built: list[Path], suffix: str = SUFFIX, venv: bool = True) -> Path:
    """A tree with what setup.sh's Python step reads: pyproject.toml, setup.py, the .pyx sources, the modules of
    `built` (files named as setuptools names them for the Python of `suffix`), a .venv whose python is this one
    (unless not `venv`), and the stamp of the last install (current). No package.json or manage.py: those steps are
    skipped."""
    tree = tmp_path / "tree"
    flows = tree / "editor" / "policy" / "flows"
    flows.mkdir(parents=True)
    (tree / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tree / "scripts" / "setup.sh")
    for name in ("pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, tree / name)
    for source in SOURCES:
        shutil.copy(source, flows / source.name)
    for source in built:
        (flows / (source.stem + suffix)).write_bytes(b"")
    if venv:
        (tree / ".venv" / "bin").mkdir(parents=True)
        (tree / ".venv" / "bin" / "python").symlink_to(sys.executable)
    inputs = [tree / "pyproject.toml", tree / "setup.py", *sorted(flows.glob("*.pyx"))]
    (tree / ".stamps").mkdir()
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in inputs)).hexdigest()
    (tree / ".stamps" / "python").write_text(digest + "\n")
    (tree / ".stamps" / "secret_key").write_text("made before\n")
    return tree


def setup_without_a_compiler(tree: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool) if tool != "python3" else str(Path(sys.base_prefix) / "bin" / "python3")
        assert found, tool
        (tools / tool).symlink_to(found)
    environment = {key: value for key, value in os.environ.items() if key != "CC"} | {"PATH": str(tools)}
    return subprocess.run(
        ["/bin/bash", str(tree / "scripts" / "setup.sh")], env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("missing", SOURCES, ids=lambda source: source.stem)
def test_setup_builds_again_when_any_compiled_module_is_gone(tmp_path: Path, missing: Path) -> None:
    """The stamp is current, so only the missing module can send setup.sh to the build, which here stops at once:
    no C compiler, said in one line."""
    assert len(SOURCES) >= 2
    tree = checkout(tmp_path, [source for source in SOURCES if source != missing])
    stops_for_the_compiler(setup_without_a_compiler(tree, tmp_path))


def test_setup_needs_no_compiler_when_every_module_is_built(tmp_path: Path) -> None:
    tree = checkout(tmp_path, SOURCES)
    done = setup_without_a_compiler(tree, tmp_path)
    # past the install (the steps after it need the whole tree, which this one is not)
    assert "installing" not in done.stdout and "C compiler" not in done.stderr, done.stdout + done.stderr
    assert "editor.policy.validate" in done.stderr  # the last step: the schema code


@pytest.mark.parametrize("value", ["1", "true", "yes", "0", ""])
def test_one_environment_variable_picks_the_python_reader_and_builder_together(value: str) -> None:
    """FENCELINE_PURE_FLOWS leaves out both compiled modules or neither: half of them is a set-up no test covers."""
    code = "from editor.policy.flows import aggregate, graph; print(aggregate.COMPILED, graph._compiled is not None)"
    environment = {**os.environ, "FENCELINE_PURE_FLOWS": value}
    found = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    reader, builder = found.stdout.split()
    assert reader == builder
    assert reader == ("True" if value in ("", "0") else "False")


def stops_for_the_compiler(done: subprocess.CompletedProcess[str]) -> None:
    """setup.sh went for the install, which stopped at once: no C compiler, said in one line."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("setup: a C compiler (")
    assert "apt-get install gcc" in done.stderr and done.stderr.count("\n") == 1
    assert "installing" not in done.stdout


def test_setup_builds_again_when_the_modules_were_built_for_another_python(tmp_path: Path) -> None:
    other = SUFFIX.replace("cpython-311", "cpython-312") if "cpython-311" in SUFFIX else ".cpython-311-x.so"
    tree = checkout(tmp_path, SOURCES, suffix=other)
    stops_for_the_compiler(setup_without_a_compiler(tree, tmp_path))


def test_setup_installs_into_a_new_virtualenv_whatever_the_stamp_says(tmp_path: Path) -> None:
    """.venv removed and made again: empty, so the install must run (the stamp and the modules are as left)."""
    tree = checkout(tmp_path, SOURCES, venv=False)
    done = setup_without_a_compiler(tree, tmp_path)
    assert done.stdout.startswith("setup: creating .venv\n")
    stops_for_the_compiler(done)
