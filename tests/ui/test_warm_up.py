"""Start-up warm-up: the base, the guides' retriever and the base's adapters load before anyone asks."""

from __future__ import annotations

from travelbot.data.corpus import corpus_retriever_ready
from travelbot.models import backend_for, get_registry
from travelbot.chat import warm_up


def test_warm_up_loads_the_retriever_and_every_adapter_of_the_local_base(base_variant):
    thread = warm_up()
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert corpus_retriever_ready()
    backend = backend_for(base_variant.base)
    shipped = [v for v in get_registry().variants().values() if v.adapter is not None and v.base == base_variant.base]
    assert len(shipped) >= 4  # the demo variants
    loaded = backend.loaded_adapters()
    for variant in shipped:
        backend.load_adapter(variant)  # already loaded: nothing new is added
    assert backend.loaded_adapters() == loaded >= len(shipped)
