"""`textvae explore`: a latent explorer in the browser, and a small JSON model server.

A thin shell over the Python API (`textvae.load`), served by Flask (the `explore` extra). The page
(explore.html, no outside scripts) draws a 2-D map of a corpus's posterior means (PCA), coloured by a
label or factor where given; clicking a point shows its sentence and greedy reconstruction; a typed
sentence is placed on the map with its reconstruction and decodes of its neighbourhood; two
sentences are interpolated with a slider; codes are sampled from the prior with any decoding.

JSON endpoints (POST a JSON object; errors are JSON with a 4xx status, never a traceback):
  GET  /map                                   the map's points
  POST /encode       {"sentences": [...], "neighbours": k}   posterior means, map positions,
                                                              reconstructions, unknown words
  POST /decode       {"z": [[...], ...], "decoding": {...}}   sentences from codes
  POST /interpolate  {"from": s, "to": s, "steps": n, "decoding": {...}}
  POST /sample       {"n": k, "seed": s, "decoding": {...}}
Every request may name a run ("run": its directory name, a string) where several are served. Every
field is checked, and work per request is bounded; a bad value is a 400 (413 where it is too much)
naming the field:
  sentences   1 to MAX_SENTENCES strings of 1 to MAX_WORDS words; "from" and "to" likewise
  neighbours  0 to 16;  steps  2 to MAX_STEPS;  n  1 to MAX_CODES;  seed  0 to 2^31 (whole numbers)
  z           1 to MAX_CODES codes of latent_dim finite numbers
  decoding    the fields of `textvae.generation.Decoding`, checked as the command line checks them
              (types, ranges, finite numbers), with max_length at most MAX_DECODE_LENGTH and
              beam_size at most MAX_BEAM
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from textvae.api import TextVAE, load
from textvae.errors import ConfigError, TextVAEError
from textvae.generation import Decoding

log = logging.getLogger(__name__)

MAX_SENTENCES, MAX_WORDS, MAX_STEPS, MAX_CODES, MAX_DECODE_LENGTH, MAX_BEAM = 64, 100, 32, 100, 60, 16
MAX_POINTS = 2000  # sentences on the map
NEIGHBOURHOOD_RADIUS = 0.5  # the neighbourhood of a code: z + radius * N(0, I)


class BadRequest(Exception):
    """A request the server refuses, with the status and message it answers."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class MapPoint:
    x: float
    y: float
    sentence: str
    label: str | None


class Explorer:
    """One run: its model, and the map of a corpus's posterior means projected on their first two
    principal components."""

    def __init__(self, name: str, vae: TextVAE, sentences: list[str], labels: list[str] | None,
                 run_dir: Path | None = None):
        self.name, self.vae, self.run_dir = name, vae, run_dir
        self.vae.precision = "fp32"  # one answer on every machine
        mu = vae.encode(sentences)[0].double().cpu()
        self.centre = mu.mean(dim=0)
        _, _, directions = torch.linalg.svd(mu - self.centre, full_matrices=False)
        self.axes = directions[:2].T  # (latent, 2)
        xy = self.project(mu)
        self.points = [MapPoint(float(x), float(y), s, None if labels is None else labels[i])
                       for i, (s, (x, y)) in enumerate(zip(sentences, xy.tolist()))]

    def project(self, z: torch.Tensor) -> torch.Tensor:
        return (z.double().cpu() - self.centre) @ self.axes


def _decoding(options: Any) -> Decoding:
    if options is None:
        return Decoding("greedy")
    if not isinstance(options, dict):
        raise BadRequest("'decoding' must be an object such as {\"strategy\": \"top-p\", \"top_p\": 0.9}")
    known = {f.name for f in fields(Decoding)}
    unknown = set(options) - known
    if unknown:
        raise BadRequest(f"unknown decoding options {sorted(unknown)}; known: {sorted(known)}")
    try:
        decoding = Decoding(**options)
    except (ConfigError, TypeError) as err:
        raise BadRequest(f"decoding: {err}") from None
    if decoding.max_length > MAX_DECODE_LENGTH:
        raise BadRequest(f"decoding max_length is at most {MAX_DECODE_LENGTH}")
    if decoding.beam_size > MAX_BEAM:
        raise BadRequest(f"decoding beam_size is at most {MAX_BEAM}")
    return decoding


def _sentences(body: dict[str, Any], key: str = "sentences") -> list[str]:
    sentences = body.get(key)
    if not isinstance(sentences, list) or not sentences:
        raise BadRequest(f"'{key}' must be a non-empty list of sentences")
    if len(sentences) > MAX_SENTENCES:
        raise BadRequest(f"at most {MAX_SENTENCES} sentences a request, got {len(sentences)}", 413)
    for sentence in sentences:
        _sentence(sentence, key)
    return sentences


def _sentence(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.split():
        raise BadRequest(f"'{key}' must hold non-empty strings")
    if len(value.split()) > MAX_WORDS:
        raise BadRequest(f"a sentence has at most {MAX_WORDS} words", 413)
    return value


def _count(body: dict[str, Any], key: str, default: int, most: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise BadRequest(f"'{key}' must be a whole number from 0 to {most}")
    return value


class Service:
    """The endpoints' logic, on plain dicts (the web framework only carries them)."""

    def __init__(self, explorers: list[Explorer]):
        self.explorers = {e.name: e for e in explorers}
        self.default = explorers[0].name

    def explorer(self, body: dict[str, Any]) -> Explorer:
        name = body.get("run", self.default)
        if not isinstance(name, str):
            raise BadRequest(f"'run' must be a string naming a run; this server has {', '.join(self.explorers)}")
        if name not in self.explorers:
            raise BadRequest(f"unknown run {name!r}; this server has {', '.join(self.explorers)}", 404)
        return self.explorers[name]

    def map(self, run: str | None) -> dict[str, Any]:
        explorer = self.explorer({} if run is None else {"run": run})
        labels = sorted({p.label for p in explorer.points if p.label is not None})
        return {"run": explorer.name, "runs": list(self.explorers), "labels": labels,
                "points": [vars(p) for p in explorer.points]}

    def curves(self, run: str | None) -> bytes:
        """The run's training curves as PNG, drawn from its metrics.jsonl now (as `textvae plot` draws them)."""
        from textvae.workbench.curves import curves_png, read_curves

        explorer = self.explorer({} if run is None else {"run": run})
        if explorer.run_dir is None:
            raise BadRequest(f"run {explorer.name!r} has no run directory to read curves from", 404)
        return curves_png([read_curves(explorer.run_dir)])

    def encode(self, body: dict[str, Any]) -> dict[str, Any]:
        explorer, sentences = self.explorer(body), _sentences(body)
        neighbours = _count(body, "neighbours", 0, 16)
        vae = explorer.vae
        mu, _ = vae.encode(sentences)
        xy = explorer.project(mu)
        reconstructions = vae.decode(mu, "greedy", max_length=min(MAX_DECODE_LENGTH, 10 + MAX_WORDS))
        results = []
        for i, sentence in enumerate(sentences):
            unknown = sorted({w for w in vae.tokenize([sentence])[0] if w not in vae.vocab})
            result = {"sentence": sentence, "mu": mu[i].tolist(), "x": float(xy[i, 0]), "y": float(xy[i, 1]),
                      "reconstruction": reconstructions[i], "unknown_words": unknown}
            if neighbours:
                generator = torch.Generator().manual_seed(i)
                around = mu[i] + NEIGHBOURHOOD_RADIUS * torch.randn(neighbours, mu.size(1), generator=generator)
                result["neighbourhood"] = vae.decode(around, "greedy")
            results.append(result)
        return {"run": explorer.name, "results": results}

    def decode(self, body: dict[str, Any]) -> dict[str, Any]:
        explorer = self.explorer(body)
        z = body.get("z")
        latent = explorer.vae.latent_dim
        if (not isinstance(z, list) or not z or len(z) > MAX_CODES or any(
                not isinstance(row, list) or len(row) != latent or not all(isinstance(v, (int, float)) for v in row)
                for row in z)):
            raise BadRequest(f"'z' must be a list of 1 to {MAX_CODES} codes of {latent} numbers")
        codes = torch.tensor(z, dtype=torch.float32)
        if not torch.isfinite(codes).all():
            raise BadRequest("'z' must hold finite numbers")
        sentences = explorer.vae.decode(codes, _decoding(body.get("decoding")), seed=_count(body, "seed", 0, 2**31))
        return {"run": explorer.name, "sentences": sentences}

    def interpolate(self, body: dict[str, Any]) -> dict[str, Any]:
        explorer = self.explorer(body)
        start, end = (None if body.get(k) is None else _sentence(body.get(k), k) for k in ("from", "to"))
        steps = _count(body, "steps", 8, MAX_STEPS)
        if steps < 2:
            raise BadRequest("'steps' must be at least 2")
        path = explorer.vae.interpolate(start, end, steps, _decoding(body.get("decoding")),
                                        seed=_count(body, "seed", 0, 2**31))
        xy = explorer.project(path.z)
        return {"run": explorer.name, "weights": path.weights.tolist(), "sentences": path.sentences,
                "points": [{"x": float(x), "y": float(y)} for x, y in xy.tolist()]}

    def sample(self, body: dict[str, Any]) -> dict[str, Any]:
        explorer = self.explorer(body)
        n, seed = _count(body, "n", 5, MAX_CODES), _count(body, "seed", 0, 2**31)
        if n < 1:
            raise BadRequest("'n' must be at least 1")
        z = explorer.vae.prior(n, seed)
        sentences = explorer.vae.decode(z, _decoding(body.get("decoding")), seed=seed)
        xy = explorer.project(z)
        return {"run": explorer.name, "sentences": sentences,
                "points": [{"x": float(x), "y": float(y)} for x, y in xy.tolist()]}


def build_service(run_dirs: list[Path], data: Path | None = None, labels: Path | None = None,
                  max_points: int = MAX_POINTS, device: str = "cpu", color_by: str | None = None) -> Service:
    """Load every run and map `data` (default: each run's validation split), coloured by its labels
    (of the factor `color_by` where the labels hold several; the first by default)."""
    from textvae.data.files import read_lines
    from textvae.evaluation.probes import aligned

    explorers = []
    for run_dir in run_dirs:
        vae = load(run_dir, device=device, precision="fp32")
        if data is not None and not Path(data).is_file():
            raise ConfigError(f"--data {data}: no such file")
        corpus = data if data is not None else Path(vae.config.data.valid) if vae.config else None
        if corpus is None or not corpus.exists():
            raise ConfigError(f"{run_dir}: its validation split is not where config.json says; give --data")
        if labels is not None:
            sentences, factors = aligned(corpus, labels, "label", max_points)
            chosen = color_by if color_by is not None else next(iter(factors))
            if chosen not in factors:
                raise ConfigError(f"--color-by {chosen!r}: the labels hold {', '.join(factors)}")
            label_list: list[str] | None = factors[chosen]
        else:
            sentences = [line for _, line in read_lines(corpus) if line.strip()][:max_points]
            label_list = None
        explorers.append(Explorer(run_dir.resolve().name, vae, sentences, label_list, Path(run_dir)))
    return Service(explorers)


def create_app(service: Service) -> Any:
    """The Flask application around a `Service`."""
    try:
        from flask import Flask, Response, jsonify, request
    except ImportError:
        raise ConfigError("the explorer needs Flask: pip install 'textvae[explore]'") from None
    from werkzeug.exceptions import HTTPException

    app = Flask("textvae.explore")
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20  # a larger request is refused before it is read
    page = resources.files("textvae").joinpath("explore.html").read_text(encoding="utf-8")

    def body() -> dict[str, Any]:
        try:
            data = request.get_data().decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the request body is not UTF-8") from None
        import json

        try:
            parsed = json.loads(data) if data.strip() else None
        except json.JSONDecodeError as err:
            raise BadRequest(f"the request body is not JSON ({err.msg})") from None
        if not isinstance(parsed, dict):
            raise BadRequest("the request body must be a JSON object")
        return parsed

    @app.get("/")
    def index() -> Response:
        return Response(page, mimetype="text/html")

    @app.get("/map")
    def map_() -> Any:
        return jsonify(service.map(request.args.get("run")))

    @app.get("/curves.png")
    def curves() -> Any:
        return Response(service.curves(request.args.get("run")), mimetype="image/png")

    for name in ("encode", "decode", "interpolate", "sample"):
        handler = getattr(service, name)
        app.add_url_rule(f"/{name}", name, lambda handler=handler: jsonify(handler(body())), methods=["POST"])

    @app.errorhandler(BadRequest)
    def refused(err: BadRequest) -> Any:
        return jsonify(error=str(err)), err.status

    @app.errorhandler(TextVAEError)
    def invalid(err: TextVAEError) -> Any:
        return jsonify(error=str(err)), 400

    @app.errorhandler(HTTPException)
    def http(err: HTTPException) -> Any:
        return jsonify(error=err.description), err.code

    @app.errorhandler(Exception)
    def failed(err: Exception) -> Any:  # a bug: logged here, one line for the client
        log.exception("request failed")
        return jsonify(error=f"internal error ({type(err).__name__}); the server keeps serving"), 500

    return app
