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
