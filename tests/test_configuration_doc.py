"""docs/configuration.md names every key the config accepts, so a new key cannot go undocumented."""

from pathlib import Path

from ur4rec.config import valid_keys

DOC = Path(__file__).parents[1] / "docs" / "configuration.md"


def test_every_config_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [key for key in valid_keys() if f"`{key}`" not in text]
    assert not missing, f"{DOC.name} does not document these config keys: {', '.join(missing)}"


def environment_variables() -> set[str]:
    """Every variable the package reads or sets: literal names given to ``os.environ`` (get,
    setdefault, []) and module constants named ``*_ENV`` (names given by a variable)."""
    import ast

    names: set[str] = set()
    for path in (Path(__file__).parents[1] / "src" / "ur4rec").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {target.id: node.value.value for node in tree.body
                     if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                     and isinstance(node.value.value, str)
                     for target in node.targets if isinstance(target, ast.Name)}
        names |= {value for name, value in constants.items() if name.endswith("_ENV")}
        for node in ast.walk(tree):
            environ = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                       and node.func.attr in ("get", "setdefault") and node.args
                       and isinstance(node.func.value, ast.Attribute)
                       and node.func.value.attr == "environ")
            key = node.args[0] if environ else node.slice if (
                isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                and node.value.attr == "environ") else None
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                names.add(key.value)
            elif isinstance(key, ast.Name) and key.id in constants:
                names.add(constants[key.id])
    return names


def test_every_environment_variable_is_documented_in_one_table():
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## Environment variables"):]
    found = environment_variables()
    assert {"UR4REC_CACHE_DIR", "UR4REC_FAISS_THRESHOLD", "OPENAI_API_KEY", "TQDM_DISABLE"} <= found
    missing = sorted(name for name in found if f"`{name}`" not in table)
    assert not missing, f"{DOC.name} § Environment variables lacks {', '.join(missing)}"
