"""The README's tables of measured results are made from benchmarks/results/*.json, never typed by hand: a block
that differs from what its JSON gives fails here (regenerate with python benchmarks/tables.py --write)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tables():
    spec = importlib.util.spec_from_file_location("benchmark_tables", ROOT / "benchmarks" / "tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_results_table_in_the_readme_is_its_json():
    tables = _tables()
    readme = (ROOT / "README.md").read_text()
    blocks = {m.group(2): m.group(3) for m in tables.BLOCK.finditer(readme)}
    assert set(blocks) == set(tables.TABLES)                    # each table once, none missing
    for name, text in blocks.items():
        assert text == tables.TABLES[name]() + "\n", f"README's {name} table differs from benchmarks/results"
    assert tables.rewrite(readme) == readme


def test_a_changed_number_is_caught():
    tables = _tables()
    readme = (ROOT / "README.md").read_text()
    tampered = readme.replace("| 784-50-10 | 0.", "| 784-50-10 | 9.", 1)
    assert tampered != readme and tables.rewrite(tampered) != tampered


def test_the_module_map_lists_every_module_once():
    tables = _tables()
    package = ROOT / "chainrule"
    present = {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    present |= {p.parent.name for p in package.glob("*/__init__.py")}
    assert sorted(tables.MODULES) == sorted(present)
