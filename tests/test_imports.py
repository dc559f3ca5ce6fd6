"""The package's imports: no circle, at module level or hidden inside a function; every module
imports on its own; every import deferred into a function says why on its line (or the line
above): an optional dependency (FAISS, Optuna, matplotlib, httpx, the text stack) or a command
parser that must not load torch.

The graph is read from the source (``ast``): module M importing ``a.b.c`` needs ``a``, ``a.b``
and ``a.b.c`` initialised, except the packages M lives in, which are by the time M runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "src" / "ur4rec"


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    in_function: bool


def package_modules(root: Path = PACKAGE) -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the package (a package is its ``__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool,
             modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "ur4rec"]
    base = node.module or ""
    if node.level:
        anchor = importer.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[:len(anchor) - node.level + 1]
        base = ".".join(anchor + ([node.module] if node.module else []))
    if base.split(".")[0] != "ur4rec":
        return []
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for alias in node.names]


def package_imports(modules: dict[str, Path]) -> list[Import]:
    """Every import of an ur4rec module, module level or inside a function; imports under
    ``if TYPE_CHECKING:`` are left out (annotations only: nothing is imported at run time)."""
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        typing_only = {id(inner) for node in ast.walk(tree) if _is_type_checking_block(node)
                       for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, name, path.name == "__init__.py", modules):
                    found.append(Import(name, target, node.lineno, id(node) not in top_level))
    return found


def _is_type_checking_block(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING")


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """``{module: modules it needs initialised}``, from every import at any depth."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for item in package_imports(modules):
        parts = item.target.split(".")
        for end in range(1, len(parts) + 1):
            needed = ".".join(parts[:end])
            own_package = item.importer.startswith(needed + ".") and end < len(parts)
            if needed in modules and needed != item.importer and not own_package:
                graph[item.importer].add(needed)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_even_inside_functions():
    modules = package_modules()
    assert len(modules) > 50
    assert circles(import_graph(modules)) == []


def test_the_circle_check_finds_a_circle_hidden_in_a_function(tmp_path):
    package = tmp_path / "ur4rec"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from ur4rec.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from ur4rec.a import thing  # hidden\n")
    assert circles(import_graph(package_modules(package))) == [["ur4rec.a", "ur4rec.b"]]


def test_every_deferred_import_says_why():
    unexplained = []
    for item in package_imports(package_modules()):
        if not item.in_function:
            continue
        lines = (PACKAGE.parent / (item.importer.replace(".", "/"))).with_suffix(".py")
        source = lines if lines.is_file() else lines.with_suffix("") / "__init__.py"
        text = source.read_text(encoding="utf-8").splitlines()
        here, above = text[item.line - 1], text[item.line - 2].strip()
        if "#" not in here and not above.startswith("#"):
            unexplained.append(f"{item.importer}:{item.line} imports {item.target}")
    assert unexplained == []


def test_every_module_imports_on_its_own():
    """Each module first, in a clean slate of ur4rec modules (third-party ones stay loaded: the
    check is about this package's order of initialisation)."""
    names = sorted(package_modules())
    code = (
        "import importlib, sys\n"
        f"failed = []\nfor name in {names!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'ur4rec']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {type(error).__name__}: {error}')\n"
        "print('\\n'.join(failed))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=REPO)
    assert result.stdout.strip() == ""
