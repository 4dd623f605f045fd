"""The loaded-model cache (an LRU by count and by total file size, one load per version however many
first requests race) and the sampler of what monitoring keeps; with real saved models."""
from __future__ import annotations

import hashlib
import random
import threading
from pathlib import Path

import orjson
import pandas as pd
import pytest
from registry_support import large_model_files, tiny_model_files

from backend.errors import Conflict, Invalid
from backend.serving import inputs, predictor, records
from backend.serving.aliases import AliasTable
from backend.serving.cache import ModelCache
from backend.serving.predictor import LoadedModel


def load_files(files: dict[str, bytes], name: str, version: int) -> LoadedModel:
    data = files["model/model.skops"]
    return predictor.load(name, version, hashlib.sha256(data).hexdigest(), data,
                          orjson.loads(files["model/signature.json"]))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return tiny_model_files(tmp_path_factory.mktemp("tiny"))


def test_least_recently_used_leave_first_by_count(tiny: dict[str, bytes]) -> None:
    cache = ModelCache(max_count=2, max_bytes=10**9)
    for version in (1, 2):
        cache.get(("m", version), lambda v=version: load_files(tiny, "m", v))
    cache.get(("m", 1), lambda: pytest.fail("cached: not loaded again"))  # 1 is now the most recently used
    cache.get(("m", 3), lambda: load_files(tiny, "m", 3))
    assert cache.keys() == [("m", 1), ("m", 3)] and cache.loads == 3


def test_least_recently_used_leave_first_by_size(tiny: dict[str, bytes], tmp_path: Path) -> None:
    large = large_model_files(tmp_path, rows=20_000)
    small_size, large_size = len(tiny["model/model.skops"]), len(large["model/model.skops"])
    cache = ModelCache(max_count=10, max_bytes=large_size + small_size)
    cache.get(("small", 1), lambda: load_files(tiny, "small", 1))
    cache.get(("small", 2), lambda: load_files(tiny, "small", 2))
    cache.get(("large", 1), lambda: load_files(large, "large", 1))  # over the size: the oldest small one leaves
    assert cache.keys() == [("small", 2), ("large", 1)]
    assert cache.size_bytes == large_size + small_size <= cache.max_bytes
    cache.get(("large", 2), lambda: load_files(large, "large", 2))  # alone over the limit: it still serves
    assert cache.keys() == [("large", 2)]


def test_racing_first_requests_load_a_version_once(tmp_path: Path) -> None:
    large = large_model_files(tmp_path, rows=50_000)  # loading takes long enough for the requests to overlap
    cache = ModelCache(max_count=4, max_bytes=10**9)
    start = threading.Barrier(8)
    found: list[LoadedModel] = []

    def first_request() -> None:
        start.wait()
        found.append(cache.get(("m", 1), lambda: load_files(large, "m", 1)))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.loads == 1 and len(found) == 8 and all(model is found[0] for model in found)


def test_a_failed_load_caches_nothing(tiny: dict[str, bytes]) -> None:
    cache = ModelCache(max_count=2, max_bytes=10**9)
    changed = {**tiny, "model/model.skops": tiny["model/model.skops"] + b"\0"}
    with pytest.raises(Conflict, match="m/1: model file changed"):
        cache.get(("m", 1), lambda: predictor.load("m", 1, hashlib.sha256(tiny["model/model.skops"]).hexdigest(),
                                                   changed["model/model.skops"], None))
    assert cache.keys() == [] and cache.loads == 0


def test_request_ids_are_unique_and_carry_the_process_prefix() -> None:
    ids = records.new_ids(1000) + records.new_ids(1000)
    assert len(set(ids)) == 2000
    assert len({request_id.split("-")[0] for request_id in ids}) == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sampler_keeps_the_share_below_the_full_rate_and_less_above_it() -> None:
    clock = Clock()
    sampler = records.Sampler(share=1.0, full_rate=50, clock=clock, rng=random.Random(3))
    assert all(sampler.keep(1) for _ in range(50))  # 50 rows this second: all kept
    clock.now += 1.0
    for _ in range(400):  # 400 rows/s, eight times the full rate: about 1 in 8 kept
        sampler.keep(1)
    clock.now += 1.0
    kept = sum(sampler.keep(1) for _ in range(400))
    assert 25 <= kept <= 80, kept  # about 50 (the full rate) of 400
    clock.now += 10.0  # traffic stopped: the full share again
    assert all(sampler.keep(1) for _ in range(20))


def test_the_sampler_honours_a_share_below_one() -> None:
    clock = Clock()
    half = records.Sampler(share=0.5, full_rate=10**6, clock=clock, rng=random.Random(5))
    kept = sum(half.keep(1) for _ in range(2000))
    assert 900 <= kept <= 1100, kept
    never = records.Sampler(share=0.0, full_rate=50, clock=clock)
    assert not any(never.keep(1) for _ in range(100))


def test_the_alias_table_follows_moves_at_once_and_other_processes_moves_when_stale() -> None:
    clock = Clock()
    stored = {("m", "production"): 1}
    reads: list[tuple[str, str]] = []

    def lookup(name: str, alias: str) -> int | None:
        reads.append((name, alias))
        return stored.get((name, alias))

    table = AliasTable(lookup, fresh_seconds=2.0, clock=clock)
    assert table.version("m", "production") == 1 and table.known("m", "production") == 1
    table.moved("m", "production", 2)  # this process's registry committed a move: the next request sees it
    assert table.known("m", "production") == 2 and reads == [("m", "production")]
    stored[("m", "production")] = 3  # another process moved it (no hook here): seen once the entry is stale
    clock.now += 1.0
    assert table.version("m", "production") == 2
    clock.now += 1.5
    assert table.known("m", "production") is None and table.version("m", "production") == 3
    assert len(reads) == 2


def test_a_version_without_a_signature_reads_the_columns_its_pipeline_was_fitted_on(tiny: dict[str, bytes]) -> None:
    data = tiny["model/model.skops"]
    model = predictor.load("m", 1, hashlib.sha256(data).hexdigest(), data, None)
    assert list(model.inputs) == ["a", "b"]
    rows = {"dataframe_records": [{"a": 0.5, "b": -1.0}, {"a": -2.0, "b": 0.25}]}
    conformed = model.conform(inputs.read_payload(rows, 10, list(model.inputs)))
    expected = model.pipeline.predict(pd.DataFrame(rows["dataframe_records"])).tolist()
    assert model.predict(conformed.frame).predictions == expected
    with pytest.raises(Invalid, match=r"row 1, column 'b': a list is not a single value"):
        model.conform(inputs.read_payload({"dataframe_records": [{"a": 1, "b": 2}, {"a": 1, "b": [2]}]}, 10, ["a"]))
