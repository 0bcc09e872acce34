"""Starting the service: the models loaded once, the app built, uvicorn on a loopback address
unless told otherwise."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Iterator, Mapping, Sequence

from hrseg.errors import ConfigError
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
                          'pip install -e ".[serve]"') from None


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


def serve(models: Mapping[str, ServedModel], host: str = "127.0.0.1", port: int = 8000,
          **app_options: Any) -> None:
    """Run the service until interrupted. ``app_options``: see :func:`hrseg.serve.app.create_app`."""
    require_serve_extra()
    import uvicorn  # the serve extra

    if not is_loopback(host):
        log.warning(f"binding to {host}: the service is reachable from other machines")
    app = create_app(models, **app_options)
    log.info(f"serving {', '.join(models)} on http://{host}:{port}/ (page at /, API under /v1/)")
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)




@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread (port 0: a free one); yields its base URL
    and stops it on exit. For tests, notebooks and embedding."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="hrseg-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the service did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
