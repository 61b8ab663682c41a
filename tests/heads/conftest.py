"""Head tests share one habit: a single thread each, since the machine is shared."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The machine is shared: keep every test (and module-scoped training fixture) to one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
