"""A local HTTP server that speaks OpenAI's embeddings wire format, for the real `openai` client.

OpenAI cannot be reached from tests, so this is the project's one fake. It is a real server on loopback
(stdlib `http.server` in a thread) rather than a patched client, so the client's own request building,
base64 decoding, retries and error mapping are what the tests exercise. What it mimics, from the API
reference and the client's behaviour:

* `POST /v1/embeddings` with `{"model", "input": str | [str] | [int] | [[int]], "encoding_format"?,
  "dimensions"?, "user"?}`; `Authorization: Bearer <key>`.
* The response `{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": ...}],
  "model", "usage": {"prompt_tokens", "total_tokens"}}`; the embedding is a list of floats, or base64 of
  little-endian float32 when `encoding_format` is "base64" (the client asks for that by default).
* Errors as `{"error": {"message", "type", "param", "code"}}` with 400 (empty string, > 2048 inputs),
  401 (wrong key), 404 (other paths) and 500 (injected with `fail_next`).

Vectors are deterministic unit vectors seeded by a hash of the text (see `vector_for`), so a test can check
that each answer belongs to its input; they carry no meaning (no similarity between related texts).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

DEFAULT_DIMENSION = 1536
MAX_INPUTS = 2048  # the API's limit of inputs per request

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def vector_for(
    text: str | list[int], model: str = "text-embedding-3-small", dimension: int = DEFAULT_DIMENSION
) -> list[float]:
    """The unit vector the fake returns for `text` (strings, or token ids as the API also accepts)."""
    key = text if isinstance(text, str) else json.dumps(text)
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{key}".encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(DEFAULT_DIMENSION).astype(np.float32)[:dimension]
    # Shortened vectors are re-normalised, as the API does with `dimensions`; float32 like the real
    # service, so base64 and JSON answers decode to the same numbers.
    return (vector / np.linalg.norm(vector)).astype(np.float32).tolist()


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON body, or None


@dataclass
class _State:
    api_key: str | None
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # statuses to answer the next requests with
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeOpenAI:
    """The server; use as a context manager. `base_url` is what OPENAI_BASE_URL should be set to.

    `api_key`: the only key accepted (None: any non-empty bearer key).
    """

    def __init__(self, api_key: str | None = "sk-test-hubs") -> None:
        self.state = _State(api_key=api_key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self.state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        """The POST /v1/embeddings requests received (failed ones included), in arrival order."""
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/embeddings"]

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` requests with `status` (500: server error, 401: key rejected, ...)."""
        with self.state.lock:
            self.state.failures.extend([status] * count)

    def reset(self) -> None:
        with self.state.lock:
            self.state.requests.clear()
            self.state.failures.clear()

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keep-alive, as api.openai.com; the client reuses its connections.
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

        def do_GET(self) -> None:
            self._record(None)
            self._error(404, f"Invalid URL (GET {self.path})")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            self._record(body)
            with state.lock:
                injected = state.failures.pop(0) if state.failures else None
            if self.path != "/v1/embeddings":
                self._error(404, f"Invalid URL (POST {self.path})")
            elif injected is not None:
                self._error(injected, _injected_message(injected))
            elif not self._authorised():
                self._error(401, "Incorrect API key provided. You can find your API key in your account settings.")
            elif not isinstance(body, dict):
                self._error(400, "We could not parse the JSON body of your request.")
            else:
                self._embeddings(body)

        def _record(self, body: Any) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.requests.append(RecordedRequest(self.command, self.path, headers, body))

        def _authorised(self) -> bool:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
                return False
            return state.api_key is None or auth[len("Bearer ") :] == state.api_key

        def _embeddings(self, body: dict[str, Any]) -> None:
            model = body.get("model")
            inputs = body.get("input")
            if not isinstance(model, str) or not model:
                self._error(400, "you must provide a model parameter", param="model")
                return
            if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
                inputs = [inputs]  # one string, or one list of token ids
            if not isinstance(inputs, list) or not inputs:
                self._error(400, "'$.input' is invalid. Please check the API reference.", param="input")
                return
            if len(inputs) > MAX_INPUTS:
                self._error(400, f"'$.input' is invalid: at most {MAX_INPUTS} inputs per request.", param="input")
                return
            if any(item == "" or not isinstance(item, (str, list)) for item in inputs):
                self._error(400, "'$.input' is invalid: inputs must be non-empty strings.", param="input")
                return
            dimension = body.get("dimensions", DEFAULT_DIMENSION)
            if not isinstance(dimension, int) or not 1 <= dimension <= DEFAULT_DIMENSION:
                self._error(400, "Invalid value for 'dimensions'.", param="dimensions")
                return
            encoding = body.get("encoding_format", "float")
            if encoding not in ("float", "base64"):
                self._error(400, "Invalid value for 'encoding_format'.", param="encoding_format")
                return
            data = []
            for index, item in enumerate(inputs):
                vector = vector_for(item, model, dimension)
                embedding: Any = vector
                if encoding == "base64":
                    embedding = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
                data.append({"object": "embedding", "index": index, "embedding": embedding})
            tokens = sum(max(1, len(item.split())) if isinstance(item, str) else len(item) for item in inputs)
            self._json(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
                {"openai-model": model},
            )

        def _error(self, status: int, message: str, param: str | None = None) -> None:
            kind, code = _ERROR_TYPES.get(status, ("server_error", None))
            error = {"message": message, "type": kind, "param": param, "code": code}
            self._json(status, {"error": error})

        def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("x-request-id", f"req_{len(state.requests):06d}")
            self.send_header("openai-processing-ms", "1")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

    return Handler


def _injected_message(status: int) -> str:
    if status == 401:
        return "Incorrect API key provided. You can find your API key in your account settings."
    if status == 429:
        return "Rate limit reached for requests."
    return "The server had an error while processing your request. Sorry about that!"
