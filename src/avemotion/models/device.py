"""Where a model computes: ``--device cpu`` (the default), ``cuda`` (``cuda:N``) or ``auto`` (CUDA when torch
sees a GPU, else the CPU).

:func:`place` moves a model to the device and gives it two hooks, so that nothing around it changes: its
input batch moves to the device on the way in and its outputs come back to the CPU on the way out (gradients
flow through both moves). Training, validation and prediction code keep working on CPU tensors; checkpoints
are written from CPU copies, so a model trained on a GPU loads on a machine without one.

The project's lock installs the CPU build of torch; a GPU needs a CUDA build of the same torch version (see
docs/method/model.md, "Devices"). On the CPU, training is deterministic and bit-identical across runs; on a
GPU it is not guaranteed to be.

The device for prediction in this process (and the worker processes it spawns, through ``AVEMOTION_DEVICE``):
:func:`set_inference_device`, read by :class:`~avemotion.inference.predict.Predictor`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
from torch import nn

from avemotion.errors import ConfigError

DEVICES = ("cpu", "cuda", "auto")
_ENV = "AVEMOTION_DEVICE"
CUDA_HINT = ("install a CUDA build of torch on a machine with an NVIDIA GPU (pip install --force-reinstall "
             "--no-deps torch=={version} --index-url https://download.pytorch.org/whl/cuXXX, see "
             "docs/method/model.md), or use --device cpu")


def resolve_device(name: str | torch.device | None) -> torch.device:
    """The torch device ``name`` means: "cpu", "cuda" / "cuda:N" (a :class:`ConfigError` naming what to
    install when torch sees no GPU), "auto" (CUDA when available, else the CPU); None is the CPU."""
    if name is None:
        return torch.device("cpu")
    if isinstance(name, torch.device):
        name = str(name)
    text = name.strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a CPU-only build")
            raise ConfigError(f"--device {name}: CUDA is not available here ({build}); "
                              + CUDA_HINT.format(version=torch.__version__.split("+")[0]))
        index = text.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ConfigError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s)")
        return torch.device(text)
    raise ConfigError(f"unknown device {name!r}; use one of {', '.join(DEVICES)} (or cuda:N)")


def to_device(value: Any, device: str | torch.device) -> Any:
    """``value`` with every tensor in it (dataclass fields, dicts, lists, tuples) on ``device``."""
    return _to(value, torch.device(device))


def _to(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor in it (dataclass fields, dicts, lists, tuples) on ``device``."""
    if torch.is_tensor(value):
        return value.to(device, non_blocking=False)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _to(getattr(value, f.name), device)
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, device) for v in value)
    return value


def place(model: nn.Module, device: str | torch.device | None) -> nn.Module:
    """``model`` on ``device`` (see the module doc); on the CPU (the default) it is returned as it is."""
    dev = resolve_device(device)
    if dev.type == "cpu" and not getattr(model, "_avemotion_device_hooks", ()):
        return model
    return attach(model, dev)


def attach(model: nn.Module, dev: torch.device) -> nn.Module:
    """:func:`place` without the check of the device (and without the shortcut for the CPU)."""
    model.to(dev)
    for handle in getattr(model, "_avemotion_device_hooks", ()):  # placed before: the new device's hooks
        handle.remove()
    cpu = torch.device("cpu")
    model._avemotion_device_hooks = (  # type: ignore[assignment]
        model.register_forward_pre_hook(lambda _m, args, kwargs: (_to(args, dev), _to(kwargs, dev)),
                                        with_kwargs=True),
        model.register_forward_hook(lambda _m, _args, out: _to(out, cpu)))
    return model


def set_inference_device(name: str) -> None:
    """The device :class:`~avemotion.inference.predict.Predictor` puts its model on, in this process and the
    worker processes it starts (checked here, so that a wrong one fails before any work)."""
    resolve_device(name)
    os.environ[_ENV] = name


def inference_device() -> str:
    return os.environ.get(_ENV, "cpu") or "cpu"
