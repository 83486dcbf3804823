"""``avemotion serve [--model RUNDIR|NAME] [--host 127.0.0.1] [--port 8000]``: the web app (see docs/web.md).

FastAPI and uvicorn are imported only when the command runs, so ``avemotion --help`` stays fast, and they are
the ``[web]`` extra: without it the command says what to install. ``--model``
is a run folder or the name of a bundled model; without it the bundled ``default`` is used
(``avemotion.inference.resolve_model``).
"""

from __future__ import annotations

import argparse

from avemotion.cli.commands._execution_args import add_device_option
from avemotion.cli.common import add_model_argument

#: modules of the ``[web]`` extra (``pip install 'avemotion[web]'``) the web app imports
WEB_MODULES = ("fastapi", "fastapi_offline", "uvicorn", "python_multipart")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="web app: upload a recording, see its emotion timeline")
    add_model_argument(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: only this machine)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-upload-mb", type=float, default=None, help="largest accepted upload (default 200)")
    p.add_argument("--max-uploads", type=int, default=None,
                   help="uploads streaming in at once before HTTP 503 (default 32)")
    p.add_argument("--queue-size", type=int, default=None,
                   help="jobs waiting or running before HTTP 503 (default 32)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker threads, a model copy and feature extractors each (default: the cores available, "
                        "at most 8)")
    p.add_argument("--window", type=float, default=None,
                   help="default timeline window in seconds (default 3)")
    p.add_argument("--hop", type=float, default=None, help="default timeline hop in seconds (default 1.5)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this host name (repeatable; '*': any). Loopback names and "
                        "the bound address are always accepted")
    p.add_argument("--token", default=None,
                   help="access token every request must carry (default: none on loopback; off loopback "
                        "one is generated and printed)")
    add_device_option(p, "prediction")
    p.set_defaults(func=run)


def require_web_extra() -> None:
    """Raise :class:`ConfigError` naming the extra to install when a module of the web app is missing."""
    import importlib.util

    from avemotion.errors import ConfigError

    missing = [m for m in WEB_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"avemotion serve needs the web extra ({', '.join(missing)} not installed): "
            "pip install 'avemotion[web]' (in a clone: make install-web)")


def run(args: argparse.Namespace) -> int:
    import secrets

    require_web_extra()
    import uvicorn
    from pydantic import ValidationError

    from avemotion.errors import ConfigError
    from avemotion.inference import resolve_model
    from avemotion.inference.bundled import describe_model
    from avemotion.models.device import set_inference_device
    from avemotion.utils.progress import set_quiet
    from avemotion.web.app import create_app
    from avemotion.web.settings import LOOPBACK_HOSTS, WebSettings

    token = args.token
    if token is None and args.host not in LOOPBACK_HOSTS:
        token = secrets.token_urlsafe(24)
    options = {"max_upload_mb": args.max_upload_mb, "max_uploads": args.max_uploads,
               "queue_size": args.queue_size, "workers": args.workers,
               "window": args.window, "hop": args.hop, "allowed_hosts": args.allow_host,
               "bind_host": args.host, "token": token}
    try:
        settings = WebSettings(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError("; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                                    for e in exc.errors())) from None
    set_inference_device(args.device)
    model = resolve_model(args.model)
    app = create_app(model, settings)
    print(f"avemotion: model: {describe_model(model)}")
    set_quiet(True)  # per-window progress bars of concurrent jobs would interleave in the server log
    shown = "localhost" if args.host in ("0.0.0.0", "::", "127.0.0.1") else args.host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{args.port}/"
    if token is not None:
        print(f"avemotion: open {url}?token={token}\n  (every request needs this token: as ?token=, the "
              "cookie that link sets, or 'Authorization: Bearer TOKEN')", flush=True)
    else:
        print(f"avemotion: open {url}", flush=True)
    from avemotion.utils.workers import torch_threads
    from avemotion.web.settings import available_cores

    with torch_threads(max(1, available_cores(64) // settings.workers)):  # the workers share the cores
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
