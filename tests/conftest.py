from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder of real fixtures beside the checkout (CI has it)."""
    if not SHARED.is_dir():
        pytest.skip(f"no shared fixtures at {SHARED}")
    return SHARED


@pytest.fixture
def one_thread():
    """Tiny convs on 2 busy cores run many times faster on one thread than on two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
