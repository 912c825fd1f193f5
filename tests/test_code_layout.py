"""The layout rules of docs/architecture.md, checked: project imports at the top, small files, big classes explained."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = {"platform_web", "trainer_api", "worker", "tests", "bench"}
SOURCE_FOLDERS = ("platform_web", "trainer_api", "worker", "tests", "bench")
MAX_FILE_LINES = 400
MAX_CLASS_LINES = 200


def python_files() -> list[Path]:
    files = [ROOT / "manage.py"]
    for folder in SOURCE_FOLDERS:
        files += [p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts]
    return sorted(files)


def function_level_project_imports(source: str) -> list[int]:
    """Lines of project imports inside a function with no comment saying why (see `explained`)."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                names = [inner.module]
            elif isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            else:
                continue
            if not any(name.split(".")[0] in PROJECT_PACKAGES for name in names):
                continue
            if not explained(lines, inner.lineno, inner.end_lineno):
                found.append(inner.lineno)
    return found


def explained(lines: list[str], first: int, last: int) -> bool:
    """A comment on the import itself or above its block of imports (blank lines and imports in between)."""
    if any("#" in line for line in lines[first - 1 : last]):
        return True
    index = first - 2
    while index >= 0:
        line = lines[index].strip()
        if line.startswith("#"):
            return True
        if line and not line.startswith(("from ", "import ")):
            return False
        index -= 1
    return False


def test_the_checker_flags_an_unexplained_import_and_accepts_an_explained_one():
    bare = "def f():\n    x = 1\n    y = 2\n    z = 3\n    from platform_web.studies import models\n"
    explained = "def f():\n    # after django.setup()\n    from platform_web.studies import models\n"
    outside = "import os\n\ndef f():\n    from json import loads\n"
    assert function_level_project_imports(bare) == [5]
    assert function_level_project_imports(explained) == []
    assert function_level_project_imports(outside) == []


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_project_imports_sit_at_the_top_unless_a_comment_says_why(path):
    assert function_level_project_imports(path.read_text()) == [], f"{path}: move these imports to the top"


def test_no_file_is_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n for p in python_files() if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert long == {}, f"split these files (over {MAX_FILE_LINES} lines): {long}"


def test_every_class_over_200_lines_says_why():
    unexplained = []
    for path in python_files():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                docstring = ast.get_docstring(node) or ""
                above = lines[max(0, node.lineno - 4) : node.lineno - 1]
                if "lines" not in docstring and not any(line.lstrip().startswith("#") for line in above):
                    unexplained.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert unexplained == []
