from __future__ import annotations

import pytest
import torch


@pytest.fixture()
def one_thread():
    """Fits made of many tiny ops: on a busy shared CPU, intra-op threads only add waits."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
