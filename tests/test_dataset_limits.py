"""Wide datasets: columns are capped (`MLOPS_MAX_COLUMNS`, default 2,000) before anything is parsed,
and parsing and statistics run off the event loop, so the server keeps answering meanwhile."""
from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import CLIENT_HEADERS, LiveServer, make_client
from fastapi.testclient import TestClient

from backend import Settings


def wide_csv(columns: int, rows: int) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    line = ",".join(str(i % 97) for i in range(columns))
    return (header + "\n" + "\n".join([line] * rows) + "\n").encode()


@pytest.fixture
def narrow(home: Path) -> TestClient:
    return make_client(Settings(home=home, token=None, max_columns=5))


def test_max_columns_setting_default_and_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    assert Settings(home=home).max_columns == 2000
    monkeypatch.setenv("MLOPS_MAX_COLUMNS", "7")
    assert Settings(home=home).max_columns == 7


@pytest.mark.parametrize("route", ["versions", "schema"])
def test_too_many_columns_is_422_naming_file(narrow: TestClient, route: str) -> None:
    url = "/api/v1/datasets/wide/versions" if route == "versions" else "/api/v1/data/schema"
    with narrow:
        refused = narrow.post(url, params={"filename": "w.csv"}, content=wide_csv(6, 3))
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert (body["field"], body["code"]) == ("file", "invalid")
        assert "6 columns" in body["detail"] and "5" in body["detail"] and "MLOPS_MAX_COLUMNS" in body["detail"]
        accepted = narrow.post(url, params={"filename": "w.csv"}, content=wide_csv(5, 3))
        assert accepted.status_code in (200, 201), accepted.text
        if route == "versions":
            assert [v["version"] for v in narrow.get("/api/v1/datasets/wide").json()["versions"]] == [1]


def test_too_many_parquet_columns_is_422_naming_file(narrow: TestClient) -> None:
    buffer = io.BytesIO()
    pd.DataFrame({f"c{i}": [1, 2] for i in range(6)}).to_parquet(buffer)
    with narrow:
        refused = narrow.post("/api/v1/datasets/wide/versions", params={"filename": "w.parquet"},
                              content=buffer.getvalue())
        assert refused.status_code == 422 and refused.json()["field"] == "file", refused.text
        assert narrow.get("/api/v1/datasets").json()["datasets"] == []


def test_the_original_100000_column_csv_is_refused_at_once(app_client: TestClient) -> None:
    content = wide_csv(100_000, 1)  # ~1 MiB; it once tied the server up for 170 s
    started = time.monotonic()
    refused = app_client.post("/api/v1/datasets/huge/versions", params={"filename": "h.csv"}, content=content)
    assert refused.status_code == 422 and refused.json()["field"] == "file", refused.text
    assert "100000 columns" in refused.json()["detail"]
    assert time.monotonic() - started < 20  # the header is counted; nothing is parsed


def _upload_raw(server: LiveServer, content: bytes, times: dict[str, float]) -> None:
    """POST a dataset over a plain socket, noting when the body was sent and when the answer came."""
    head = (f"POST /api/v1/datasets/slow/versions?filename=s.csv HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"X-Mlops-Client: tests\r\nContent-Type: text/csv\r\nContent-Length: {len(content)}\r\n"
            "Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=300) as sock:
        sock.sendall(head + content)
        times["sent"] = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    times["answered"] = time.monotonic()
    times["status"] = float(answer.split(b" ", 2)[1])


def test_healthz_answers_while_a_wide_upload_is_processed(live_server: LiveServer) -> None:
    """Each column's statistics take time: while they are computed (after the body has arrived and
    before the answer), health checks must keep completing. Work on the event loop would hold them
    all until the upload's answer."""
    content = wide_csv(2000, 60)
    times: dict[str, float] = {}
    upload = threading.Thread(target=_upload_raw, args=(live_server, content, times))
    completed: list[float] = []
    with httpx.Client(base_url=live_server.url, headers=CLIENT_HEADERS, timeout=60) as http:
        http.get("/healthz")  # the connection is open before the upload starts
        upload.start()
        while upload.is_alive():
            assert http.get("/healthz").status_code == 200
            completed.append(time.monotonic())
            time.sleep(0.02)
    upload.join()
    assert times["status"] == 201
    margin = 0.2  # the server may still be reading the last bytes just after `sent`
    during = [t for t in completed if times["sent"] + margin < t < times["answered"] - margin]
    assert len(during) >= 3, (len(during), times["answered"] - times["sent"])
