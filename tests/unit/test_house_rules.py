"""House rules that the code itself must keep (DESIGN.md section 5)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from editor.settings import envbool

# Imports every module of the core, then fails if any of them pulled in Django.
_IMPORT_CORE = """
import importlib, pkgutil, sys
import editor.policy
for module in pkgutil.walk_packages(editor.policy.__path__, "editor.policy."):
    importlib.import_module(module.name)
loaded = sorted(name for name in sys.modules if name == "django" or name.startswith("django."))
assert not loaded, loaded
print(len([m for m in sys.modules if m.startswith("editor.policy")]))
"""


def test_importing_the_core_loads_no_django() -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORT_CORE], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50  # every module was imported, not just the package


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        (" TRUE ", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("No", False),
        ("off", False),
        ("", None),
    ],
)
def test_boolean_settings_read_the_usual_spellings(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: bool | None
) -> None:
    monkeypatch.setenv("FENCELINE_TEST_BOOL", text)
    assert envbool("FENCELINE_TEST_BOOL", default=True) is (True if expected is None else expected)


@pytest.mark.parametrize("typo", ["ture", "flase", "2", "y e s", "enabled"])
def test_a_typo_in_a_boolean_setting_stops_start_up(monkeypatch: pytest.MonkeyPatch, typo: str) -> None:
    monkeypatch.setenv("DEBUG", typo)
    with pytest.raises(ImproperlyConfigured, match=f"DEBUG='{typo}' is not a boolean"):
        envbool("DEBUG", default=False)


def test_test_modules_have_unique_names() -> None:
    # The test folders are not packages: pytest imports each test file under its bare name, so two files of one
    # name in different folders stop the whole run at collection ("import file mismatch").
    from collections import Counter
    from pathlib import Path

    names = Counter(path.name for path in Path(__file__).resolve().parent.parent.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []


def test_template_comments_of_one_brace_kind_stay_on_one_line() -> None:
    # Django's {# ... #} comment ends at its line: one spread over lines is shown on the page as text (it pushed the
    # editor down by 60 px, found by tests/e2e/test_small_windows.py). Longer comments use {% comment %}.
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent.parent
    open_comments = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("templates", "editor/templates")
        for path in sorted((root / folder).rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.count("{#") != line.count("#}")
    ]
    assert open_comments == []
