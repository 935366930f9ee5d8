"""The latent explorer: its JSON endpoints (Flask's test client) and its page in headless Chromium."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import threading

import pytest

from conftest import TINY_SENTENCES

flask = pytest.importorskip("flask")

from textvae import DataConfig, ModelConfig, TrainConfig, train  # noqa: E402
from textvae.explore import MAX_SENTENCES, build_service, create_app  # noqa: E402


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    corpus = root / "train.txt"
    corpus.write_text("\n".join(TINY_SENTENCES * 4) + "\n", encoding="utf-8")
    labels = root / "train.labels"
    labels.write_text("\n".join(["good", "bad"] * 16) + "\n", encoding="utf-8")
    train(root / "run", DataConfig(str(corpus), str(corpus)), ModelConfig(embedding_dim=16, hidden_dim=24,
          latent_dim=4), TrainConfig(max_steps=30, batch_size=8, lr=0.01, eval_every=15), progress=False)
    service = build_service([root / "run"], corpus, labels, device="cpu")
    return service, create_app(service).test_client()


def post(client, path: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    response = client.post(path, data=data, content_type="application/json")
    return response.status_code, response.get_json()


def test_the_page_and_the_map(explored):
    service, client = explored
    page = client.get("/")
    assert page.status_code == 200 and b"<canvas id=\"map\"" in page.data
    answer = client.get("/map").get_json()
    assert len(answer["points"]) == 32 and answer["labels"] == ["bad", "good"] and answer["runs"] == ["run"]
    assert {"x", "y", "sentence", "label"} <= set(answer["points"][0])
    assert client.get("/map?run=nope").status_code == 404


def test_the_page_shows_the_runs_training_curves(explored):
    pytest.importorskip("matplotlib")
    service, client = explored
    assert b'<img id="curves"' in client.get("/").data
    response = client.get("/curves.png?run=run")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data[:8] == b"\x89PNG\r\n\x1a\n"
    from textvae.workbench.curves import curves_png, read_curves
    assert response.data == curves_png([read_curves(service.explorers["run"].run_dir)])  # what `textvae plot` draws
    missing = client.get("/curves.png?run=nope")
    assert missing.status_code == 404 and "unknown run" in missing.get_json()["error"]


def test_encode_decode_interpolate_sample(explored):
    service, client = explored
    status, answer = post(client, "/encode", {"sentences": ["the food was great .", "the fod was great ."],
                                              "neighbours": 3})
    assert status == 200
    first, second = answer["results"]
    assert first["unknown_words"] == [] and second["unknown_words"] == ["fod"]
    assert len(first["mu"]) == 4 and len(first["neighbourhood"]) == 3 and isinstance(first["reconstruction"], str)
    vae = service.explorers["run"].vae
    assert first["reconstruction"] == vae.reconstruct(["the food was great ."])[0]
    status, answer = post(client, "/decode", {"z": [first["mu"]], "decoding": {"strategy": "greedy"}})
    assert status == 200 and answer["sentences"] == [first["reconstruction"]]
    status, answer = post(client, "/interpolate", {"from": "the food was great .", "to": "great prices .",
                                                   "steps": 5})
    assert status == 200 and len(answer["sentences"]) == len(answer["points"]) == 5 and answer["weights"][-1] == 1.0
    status, answer = post(client, "/sample", {"n": 4, "seed": 2, "decoding": {"strategy": "top-p", "top_p": 0.8}})
    assert status == 200 and len(answer["sentences"]) == 4
    assert answer["sentences"] == vae.sample(4, "top-p", top_p=0.8, seed=2)


@pytest.mark.parametrize("path, body, status, message", [
    ("/encode", b"", 400, "must be a JSON object"),
    ("/encode", {"sentences": []}, 400, "non-empty list"),
    ("/encode", {"sentences": ["a b ."] * 10_000}, 413, f"at most {MAX_SENTENCES} sentences"),
    ("/encode", b"\xff\xfe{not utf-8", 400, "not UTF-8"),
    ("/encode", b"{not json", 400, "not JSON"),
    ("/encode", {"sentences": ["the food ."], "run": "nope"}, 404, "unknown run 'nope'"),
    ("/encode", {"sentences": [" "]}, 400, "non-empty strings"),
    ("/encode", {"sentences": ["word " * 500]}, 413, "at most 100 words"),
    ("/decode", {"z": [[1, 2]]}, 400, "codes of 4 numbers"),
    ("/decode", {"z": [[0, 0, 0, 0]], "decoding": {"strategy": "psychic"}}, 400, "unknown decoding strategy"),
    ("/decode", {"z": [[0, 0, 0, 0]], "decoding": {"max_length": 10_000}}, 400, "max_length is at most"),
    ("/interpolate", {"steps": 10_000}, 400, "'steps' must be a whole number"),
    ("/sample", {"n": -3}, 400, "'n' must be a whole number"),
    ("/sample", {"n": 2, "decoding": {"strategy": "top-p", "top_p": 7}}, 400, "top-p needs"),
])
def test_bad_requests_get_a_4xx_with_a_message_and_the_server_keeps_serving(explored, path, body, status, message):
    _, client = explored
    code, answer = post(client, path, body)
    assert code == status and message in answer["error"]
    assert post(client, "/encode", {"sentences": ["the food was great ."]})[0] == 200
    assert client.get("/nowhere").get_json()["error"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium (Debian's chromium package)")
def test_the_page_in_headless_chromium(explored, tmp_path):
    """The map holds every point, and a sentence given to the page comes back reconstructed."""
    from werkzeug.serving import make_server

    service, _ = explored
    server = make_server("127.0.0.1", 0, create_app(service), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/?sentence=the%20food%20was%20great%20."
        dom = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=15000", "--dump-dom", url],
            capture_output=True, text=True, timeout=120).stdout
    finally:
        server.shutdown()
    assert 'data-ready="yes"' in dom, dom[-2000:]
    assert re.search(r'<canvas id="map"[^>]*data-points="32"', dom)
    if importlib.util.find_spec("matplotlib"):
        assert re.search(r'<img id="curves"[^>]*src="blob:', dom), "the training curves are not shown"
    expected = service.explorers["run"].vae.reconstruct(["the food was great ."])[0]
    shown = re.search(r'<div id="reconstruction" class="out">(.*?)</div>', dom, re.S).group(1)
    assert shown == expected.replace("<", "&lt;").replace(">", "&gt;")
