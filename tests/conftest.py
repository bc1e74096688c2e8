from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder of real fixtures beside the checkout (CI has it)."""
    if not SHARED.is_dir():
        pytest.skip(f"no shared fixtures at {SHARED}")
    return SHARED
