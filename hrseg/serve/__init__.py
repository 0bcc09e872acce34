"""HRNet over HTTP: a FastAPI service (``tools/serve.py``) and a page to try it in a browser.

Optional: ``pip install 'hrseg[serve]'`` (fastapi, uvicorn, python-multipart; in a clone
``pip install -e '.[serve]'``). The modules:
:mod:`~hrseg.serve.models` (the one adapter to the task modules), :mod:`~hrseg.serve.batching`
(micro-batching), :mod:`~hrseg.serve.uploads` (limits and decoding), :mod:`~hrseg.serve.app`
(routes), :mod:`~hrseg.serve.server` (loading and running), :mod:`~hrseg.serve.loadtest`.
"""
