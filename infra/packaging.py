"""Lambda code without Docker: the project's own packages staged into one directory (the function
asset), and third-party dependencies in a layer that `make layer` builds ahead of time.

Why this split: synth must run offline (tests, CI without network), so it never runs pip. The
function asset is a plain copy of our packages (content-hashed by CDK, so unchanged code is not
re-uploaded). The dependency layer is either the directory `make layer` built with
`pip install --target ... --platform manylinux2014_x86_64 --only-binary=:all: -c constraints.txt`
(used when it exists), or, when it has not been built, a CloudFormation parameter naming a
layer version ARN published beforehand (e.g. by another pipeline). `-c dependencyLayer=asset|parameter`
forces one.
"""
from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The packages a handler may import at run time in AWS (pyproject's package list minus the
# operator-only ones: the CDK app and the dashboard renderer never run in Lambda).
LAMBDA_PACKAGES: tuple[str, ...] = ("cqrs", "ingestion", "projections", "services", "search_api")
# Data files the handlers read (state machine definitions, SQL, templates) travel with the code.
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", "tests")
DEFAULT_LAYER_DIR = REPO_ROOT / "infra" / "build" / "layer"


def stage_code(target: Path) -> Path:
    """Copy the project's packages into `target` (emptied first) and return it."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for pkg in LAMBDA_PACKAGES:
        src = REPO_ROOT / pkg
        if not (src / "__init__.py").exists():
            raise FileNotFoundError(f"package {pkg!r} not found at {src}: cannot stage the Lambda asset")
        shutil.copytree(src, target / pkg, ignore=_IGNORE)
    # The SQL the projections run is read from files at run time.
    for extra in ("athena_sql", "redshift_sql"):
        if (REPO_ROOT / extra).is_dir():
            shutil.copytree(REPO_ROOT / extra, target / extra, ignore=_IGNORE)
    return target


def layer_is_built(layer_dir: Path) -> bool:
    """A Lambda Python layer keeps its packages under `python/`."""
    return (layer_dir / "python").is_dir() and any((layer_dir / "python").iterdir())
