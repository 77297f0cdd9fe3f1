import os
from pathlib import Path

import pytest

from tests.fixtures import load_config

REPO = Path(__file__).resolve().parents[1]

# One torch thread per test process: the suite runs on 2 cores beside other jobs.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def unit_config() -> dict:
    """The unit-test config (tests/fixtures/config_unit.yaml), a fresh copy per test: never the live
    config/config.yaml, so retuning the mini config cannot break unit tests."""
    return load_config()


# Under pytest-xdist (`make test` runs `-n 2 --dist loadscope --no-loadscope-reorder`), a module's
# tests stay on one worker (module-scoped fixtures such as the smoke DAG run once) and modules are
# handed out in collection order. Collect the modules that run Snakemake or training processes
# first, longest first, so that no worker sits idle while the other finishes a long module.
SLOW_FIRST = (
    "tests/workflow/test_smoke_workflow.py",  # the whole smoke DAG
    "tests/workflow/test_interrupt.py",  # the OCR slice, run and killed four times
    "tests/cluster/",
    "tests/workflow/",
    "tests/unit/test_trainer_signals.py",  # real training processes
)


def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):  # only on xdist workers; a plain run keeps file order
        return

    def rank(item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return next((i for i, prefix in enumerate(SLOW_FIRST) if path.startswith(prefix)), len(SLOW_FIRST))

    items.sort(key=rank)  # stable: file order within a rank
