"""Starting the service: the models loaded once, the app built, uvicorn on a loopback address
unless told otherwise."""
from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time
from typing import Any, Iterator, Mapping, Sequence

from hrseg.errors import ConfigError
from hrseg.errors import install_hint
from hrseg.serve.app import create_app
from hrseg.serve.models import TASKS, ServedModel, load_model
from hrseg.serve.uploads import Limits  # noqa: F401  (tools/serve.py takes it from here)
from hrseg.utils.net import is_loopback

log = logging.getLogger("hrseg")


def require_serve_extra() -> None:
    """A clear error when the optional packages are missing."""
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart)
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"the service needs the 'serve' extra ({e.name} is missing): "
                          f"{install_hint('serve')}") from None


def load_models(specs: Mapping[str, str | None], backend: str | None = "auto",
                cfg_options: Mapping[str, Sequence[str]] | None = None, dtype: str = "float32",
                configs: Mapping[str, str | None] | None = None,
                predictor_options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, ServedModel]:
    """``{task: checkpoint file or model name}`` -> the loaded models (tasks given None skipped),
    each the task's predictor as the tools build it for ``backend`` (:data:`hrseg.backends.BACKENDS`
    or ``auto``) and ``dtype``, with ``configs[task]`` for weights that record no config and
    ``predictor_options[task]`` (pose: ``det_weights``, ``det_score_thr``): see
    :func:`hrseg.serve.models.load_model`."""
    models = {}
    for task in TASKS:
        spec = specs.get(task)
        if spec:
            t0 = time.perf_counter()
            models[task] = load_model(task, spec, backend, (cfg_options or {}).get(task, ()), dtype=dtype,
                                      config=(configs or {}).get(task), **(predictor_options or {}).get(task, {}))
            m, info = models[task], models[task].predictor.describe()
            detector = f", boxes from {info['detector']}" if "detector" in info else ""
            log.info(f"{task}: {m.name} from {m.source} on {info['backend']} ({info['dtype']}{detector}; "
                     f"{time.perf_counter() - t0:.1f} s)")
    if not models:
        raise ConfigError("no model to serve: give at least one of " + ", ".join(f"--{t}" for t in TASKS))
    return models


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: a free port), opened before the service loads or
    announces anything, so that a port in use is one clear error (a :class:`ConfigError`), not a
    server's bind failure after the start-up message."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use; stop what listens there or give another --port") \
                from None
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _server(app: Any, host: str, port: int) -> Any:
    """The uvicorn server of ``app`` (it runs on a socket from :func:`listen`)."""
    import uvicorn  # the serve extra

    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                         timeout_graceful_shutdown=5))


def serve(models: Mapping[str, ServedModel], host: str = "127.0.0.1", port: int = 8000,
          sock: socket.socket | None = None, **app_options: Any) -> None:
    """Run the service until interrupted, on ``sock`` (a socket from :func:`listen`; None: one is
    opened on ``host``:``port`` first, before anything is announced). ``app_options``: see
    :func:`hrseg.serve.app.create_app`."""
    require_serve_extra()
    sock = listen(host, port) if sock is None else sock
    with sock:
        if not is_loopback(host):
            log.warning(f"binding to {host}: the service is reachable from other machines")
        app = create_app(models, **app_options)
        port = sock.getsockname()[1]
        log.info(f"serving {', '.join(models)} on http://{host}:{port}/ (page at /, API under /v1/)")
        _server(app, host, port).run(sockets=[sock])


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread (port 0: a free one); yields its base URL
    and stops it on exit. For tests, notebooks and embedding."""
    sock = listen(host, port)
    server = _server(app, host, sock.getsockname()[1])
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="hrseg-serve", daemon=True)
    with sock:
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start on {host}:{server.config.port}")
            time.sleep(0.02)
        try:
            yield f"http://{host}:{server.config.port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
