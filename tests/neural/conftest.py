import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """Tiny networks: torch's intra-op threads only add synchronisation.

    On a loaded 2-core machine they made a 200-step fit 200 times slower.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
