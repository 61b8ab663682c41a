"""A hub source whose endpoint answers but cannot serve (a proxy's 502 Bad Gateway) fails at once in one line, not
after huggingface_hub's retries with a raw ``LocalEntryNotFoundError``."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from seqlab.data.sources import load_hf
from seqlab.errors import DataError


class BadGateway(http.server.BaseHTTPRequestHandler):
    """What a failing proxy in front of ``HF_ENDPOINT`` answers to every request."""

    def do_GET(self) -> None:
        self.send_response(502, "Bad Gateway")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def bad_gateway():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BadGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_proxy_answering_502_is_one_line_within_seconds(bad_gateway, monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", bad_gateway)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    start = time.monotonic()
    with pytest.raises(DataError) as error:
        load_hf("hf:cardiffnlp/tweet_eval:sentiment")
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert "\n" not in message and "LocalEntryNotFoundError" not in message
    assert message.startswith(f"data.source=hf:cardiffnlp/tweet_eval:sentiment: cannot reach the Hugging Face hub "
                              f"({bad_gateway} answered HTTP 502 Bad Gateway)")
    assert "set data.source=hf:/path/to/tweet_eval:sentiment" in message


@pytest.mark.e2e
def test_the_cli_says_so_in_one_line(bad_gateway, run_seqlab, tmp_path):
    env = {"HF_ENDPOINT": bad_gateway, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
    result = run_seqlab("data=tweet_eval", env=env, fresh=True)  # a fresh interpreter reads HF_ENDPOINT
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and "Retrying" not in result.stdout + result.stderr, result.stderr[-2000:]
    assert lines[0].startswith("seqlab: error: data.source=hf:cardiffnlp/tweet_eval:sentiment: cannot reach the "
                               f"Hugging Face hub ({bad_gateway} answered HTTP 502 Bad Gateway)")
