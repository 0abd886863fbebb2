"""The documentation's tables are made from their sources, never typed by hand: measured results from
benchmarks/results/*.json, the module map from the modules' docstrings, the layers' rules from the layers. A block
that differs from what its source gives fails here (regenerate with python benchmarks/tables.py --write)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tables():
    spec = importlib.util.spec_from_file_location("benchmark_tables", ROOT / "benchmarks" / "tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_generated_table_in_the_docs_is_its_source():
    tables = _tables()
    found = []
    for path in tables.documents():
        text = path.read_text()
        for m in tables.BLOCK.finditer(text):
            found.append(m.group(2))
            assert m.group(3) == tables.TABLES[m.group(2)]() + "\n", \
                f"{path.relative_to(ROOT)}: the {m.group(2)} table differs from its source"
        assert tables.rewrite(text) == text
    assert sorted(found) == sorted(tables.TABLES)            # each table exactly once, none missing


def test_a_changed_number_is_caught():
    tables = _tables()
    results = (ROOT / "docs" / "results.md").read_text()
    tampered = results.replace("| 784-50-10 | 0.", "| 784-50-10 | 9.", 1)
    assert tampered != results and tables.rewrite(tampered) != tampered


def test_the_module_map_lists_every_module_once():
    tables = _tables()
    package = ROOT / "chainrule"
    present = {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    present |= {p.parent.name for p in package.glob("*/__init__.py")}
    assert sorted(tables.MODULES) == sorted(present)
