"""The package's structure: no import cycle, no layer looked up by name, each backward rule stated once.

The modules read in the book's order, each importing only those before it (the docs' module map in
docs/development.md, made from the modules' docstrings, lists them).
"""
import ast
import re
from pathlib import Path

import pytest

import chainrule
from chainrule.layers import ALL, rules_table

ROOT = Path(chainrule.__file__).resolve().parent
REPO = ROOT.parent


def module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imports_of(name, path):
    """Every chainrule module ``name`` imports, function-local imports included."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("chainrule"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if not base.startswith("chainrule"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


def test_no_import_cycle_in_the_package():
    graph = {name: imports_of(name, path) for name, path in MODULES.items()}
    state, stack = {}, []

    def visit(node):
        state[node] = "active"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "active":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_engine_imports_no_math():
    # the backend, and the policy for non-finite results (which reports, and computes nothing)
    assert imports_of("chainrule.graph", MODULES["chainrule.graph"]) <= {"chainrule.backend", "chainrule.nonfinite"}
    assert imports_of("chainrule.nonfinite", MODULES["chainrule.nonfinite"]) == set()


def test_layers_import_nothing_above_them():
    allowed = {"chainrule.graph", "chainrule.backend", "chainrule.array_math", "chainrule.im2col", "chainrule.mode",
               "chainrule.parallel", "chainrule.kernels"}
    for name, path in MODULES.items():
        if name.startswith("chainrule.layers"):
            outside = {m for m in imports_of(name, path) if not m.startswith("chainrule.layers")}
            assert outside <= allowed, f"{name} imports {outside - allowed}"


def test_drawings_import_no_networks_optimizers_or_data():
    """Drawing stays below networks: the page's training data is handed in by its caller."""
    above = ("chainrule.nets", "chainrule.optimizers", "chainrule.datasets", "chainrule.training", "chainrule.cli",
             "chainrule.sweep", "chainrule.model_io", "chainrule.gradcheck")
    for name, path in MODULES.items():
        if name.startswith("chainrule.draw"):
            bad = {m for m in imports_of(name, path) if m.startswith(above)}
            assert not bad, f"{name} imports {bad}"


def test_no_layer_is_looked_up_by_name():
    for path in ROOT.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"getattr\((layers|L)\b", text), path
        assert not re.search(r"_op\(\s*\"", text), path


def test_every_backward_rule_is_defined_in_one_class():
    for cls in ALL:
        owners = [k for k in cls.__mro__ if "backward" in vars(k)]
        assert owners and owners[0].__module__.startswith("chainrule.layers"), cls
        defined = [p for p in (ROOT / "layers").glob("*.py") if re.search(rf"^class {cls.__name__}\(", p.read_text(),
                                                                          re.M)]
        assert len(defined) == 1, (cls, defined)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_each_docstring_states_the_rule_that_explanations_use(cls):
    """The explanation templates, rendered with symbols, are the docstring's statement of the backward rule."""
    doc = " ".join(cls.__doc__.split())
    statements = cls.rule_statements()
    assert len(statements) == len(cls.gradient_names()) > 0
    for statement in statements:
        assert statement in doc, f"{cls.__name__}: {statement!r} is not in its docstring"


def test_the_docs_table_of_rules_is_generated_from_the_layers():
    page = (REPO / "docs" / "chapter5" / "layers.md").read_text()
    assert rules_table().strip("\n") in page, "the docs' table of layers differs from chainrule.layers.rules_table()"


def test_no_citation_of_documents_outside_the_repository():
    # the names of the project's source notes, written so that this line does not match itself
    pattern = re.compile(r"s[e]ed ?0\d\d|SPEC[ ]§|s[e]ed00\d|the s[e]eds'", re.I)
    files = [*ROOT.rglob("*.py"), *(REPO / "tests").glob("*.py"), *(REPO / "examples").glob("*.py"),
             *(REPO / "benchmarks").glob("*.py"), REPO / "README.md", *(REPO / "docs").rglob("*.md"),
             *(REPO / "docs").rglob("*.py"), *(REPO / "exercises").rglob("*.py")]
    hits = [f"{p.relative_to(REPO)}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line) and "pattern = re.compile" not in line]
    assert not hits, hits


def test_the_sweep_is_split_by_job_into_small_modules():
    """settings, the Dask cluster, the trial loop, the final model, the driver: none over ~250 lines."""
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "sweep").glob("*.py")}
    assert {"settings.py", "cluster.py", "trials.py", "final.py", "driver.py"} <= set(sizes)
    assert max(sizes.values()) <= 260, sizes


def public_names():
    """(module name, name, object) of everything public that each chainrule module defines itself."""
    import importlib
    import pkgutil
    for info in pkgutil.walk_packages(chainrule.__path__, "chainrule."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__:
                yield info.name, name, obj


def test_every_public_function_and_class_has_a_docstring():
    import inspect
    missing = [f"{m}.{name}" for m, name, obj in public_names()
               if (inspect.isfunction(obj) or inspect.isclass(obj)) and not (obj.__doc__ or "").strip()]
    assert not missing, missing


def test_every_public_method_and_property_has_a_docstring():
    """Its own, or the one it overrides (a layer's forward and backward: the protocol's, the rule in the class)."""
    import inspect
    missing = []
    for m, name, cls in public_names():
        if not inspect.isclass(cls):
            continue
        for attr, member in vars(cls).items():
            if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                continue
            doc = member.__doc__ if isinstance(member, property) else inspect.getdoc(getattr(cls, attr))
            if not (doc or "").strip():
                missing.append(f"{m}.{name}.{attr}")
    assert not missing, missing


def test_the_architectures_and_how_to_build_them_live_in_one_place():
    """Names such as simple-cnn and how a network is built from a name or spec: chainrule/nets/architectures.py;
    training, sweeps and the gradient check all call build_network, none keeps an if-chain of names."""
    pattern = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](simple-cnn|deep-cnn|cnn)["']""")
    hits = [f"{p.relative_to(REPO)}:{i}" for p in ROOT.rglob("*.py") if p.name != "architectures.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits
