"""Folds in parallel (``--workers``, ``--executor ray``) give the sequential run's numbers, resume as it does;
``--device`` picks where the models compute (CPU here: no GPU in the tests)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from model_helpers import TINY_ARGS, quiet_torch, tiny_config, toy_clips

from avemotion.cli.main import main
from avemotion.data.batch import collate
from avemotion.errors import ConfigError
from avemotion.models.device import attach, inference_device, place, resolve_device, set_inference_device
from avemotion.models.registry import build_model
from avemotion.training.parallel import Execution, worker_threads
from avemotion.training.trainer import run_training
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)

ARGS = ["--cv", "2", "--epochs", "2", *TINY_ARGS]  # inner folds on (the default): every fold trains 4 times


def _strip(metrics: dict) -> dict:
    """metrics.json without what depends on the clock."""
    timed = ("latency", "seconds", "time", "elapsed")
    return {k: _strip(v) if isinstance(v, dict) else v for k, v in metrics.items()
            if not any(t in k.lower() for t in timed)}


def _outputs(rundir: Path) -> tuple[dict, str]:
    return (_strip(json.loads((rundir / "metrics.json").read_text())),
            (rundir / "predictions.csv").read_text())


@pytest.fixture(scope="module")
def sequential(store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seq") / "run"
    assert main(["--quiet", "train", "--features", str(store_dir), "--out", str(out), *ARGS]) == 0
    return out


def test_two_workers_give_the_sequential_metrics_and_predictions(store_dir: Path, sequential: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "par"
    assert main(["--quiet", "train", "--features", str(store_dir), "--out", str(out), *ARGS,
                 "--workers", "2"]) == 0
    assert _outputs(out) == _outputs(sequential)
    for name in ("model.safetensors", "model.json"):  # the final model, trained beside the refits
        assert (out / name).read_bytes() == (sequential / name).read_bytes(), name
    assert not (out / "final").exists() and not list(out.rglob("outcome.npz"))


def test_the_final_model_from_the_inner_runs_is_the_one_trained_after_the_folds(
        store_dir: Path, sequential: Path, tmp_path: Path) -> None:
    """The final model needs only the folds' choices, which their inner runs make: trained from those before
    any refit (as a worker does in parallel), it is the sequential run's final model; the folds then keep
    their inner outcomes until it is saved."""
    import avemotion.training.trainer as trainer
    from avemotion.training.folds import final_ahead, fit_final, fold_choice, run_inner

    real = trainer.run_folds
    made: list[bool] = []

    def final_first(tasks: list, execution: Execution) -> list:
        job = tasks[0][0]
        folds = [fold for _, fold in tasks]
        assert final_ahead(job, folds) and not final_ahead(dataclasses.replace(job, final=False), folds)
        for fold in folds:
            for j in range(3):
                run_inner(job, fold, j)
        fit_final(job, [fold_choice(job, fold) for fold in folds])  # before any refit
        made.append((job.rundir / "final" / "model.safetensors").is_file())
        results = real(tasks, execution)
        assert list(job.rundir.rglob("outcome.npz"))  # kept for the final model until it is saved
        return results

    trainer.run_folds = final_first
    try:
        run_training(store_dir, tmp_path / "run", tiny_config(**{"train.scheme": "kfold", "train.folds": 2,
                                                                 "train.epochs": 2}))
    finally:
        trainer.run_folds = real
    assert made == [True] and not (tmp_path / "run" / "final").exists()
    assert not list((tmp_path / "run").rglob("outcome.npz"))
    for name in ("model.safetensors", "model.json"):
        assert (tmp_path / "run" / name).read_bytes() == (sequential / name).read_bytes(), name


def test_an_interrupted_run_resumes_with_workers(store_dir: Path, sequential: Path, tmp_path: Path) -> None:
    cfg = tiny_config(**{"train.scheme": "kfold", "train.folds": 2, "train.epochs": 2})

    def interrupt(stage: str, epoch: int) -> None:
        if stage.startswith("fold 1/2 inner 2") and epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(store_dir, tmp_path / "cut", cfg, on_epoch_end=interrupt)
    assert list((tmp_path / "cut/folds/0").rglob("state.json"))  # the unfinished fold's training state
    assert not (tmp_path / "cut/folds/0/result.json").exists() and not (tmp_path / "cut/folds/1").exists()
    # both folds at once: the first resumes in a worker, the second starts there
    run_training(store_dir, tmp_path / "cut", cfg, execution=Execution(workers=2))
    assert _outputs(tmp_path / "cut") == _outputs(sequential)


def test_several_runs_share_the_workers_and_each_gives_its_own_outputs(store_dir: Path, sequential: Path,
                                                                       tmp_path: Path) -> None:
    """``run_trainings`` (the demo's three models): the folds, inner runs and final models of every run are
    tasks of one pool, and each run's outputs are those it gives alone, one after another."""
    from avemotion.config import Config
    from avemotion.training.trainer import RunSpec, run_trainings

    config = Config.from_yaml(sequential / "config.yaml")
    audio = config.with_overrides({"train.modality": "audio"})
    alone = tmp_path / "audio_alone"
    run_training(store_dir, alone, audio)
    runs = [RunSpec(store_dir, tmp_path / "av", config), RunSpec(store_dir, tmp_path / "audio", audio)]
    results = run_trainings(runs, execution=Execution(workers=2))
    assert [r.rundir for r in results] == [tmp_path / "av", tmp_path / "audio"]
    assert results[1].metrics["modality"] == "audio"
    for out, ref in ((tmp_path / "av", sequential), (tmp_path / "audio", alone)):
        assert _outputs(out) == _outputs(ref)
        for name in ("model.safetensors", "model.json"):
            assert (out / name).read_bytes() == (ref / name).read_bytes(), (out, name)


def test_compare_models_by_folds_in_parallel_gives_the_sequential_outputs(store_dir: Path,
                                                                          tmp_path: Path) -> None:
    args = ["--quiet", "compare", "--features", str(store_dir), "--cv", "2", "--epochs", "2",
            "--models", "bimodal,logreg", "--latency-clips", "", "--set", "train.inner_folds=0",
            "--set", "train.refit=false",
            *TINY_ARGS]
    assert main([*args, "--out", str(tmp_path / "seq")]) == 0
    assert main([*args, "--out", str(tmp_path / "par"), "--workers", "2"]) == 0
    for name in ("results.csv", "folds.csv", "groups.csv", "predictions.csv", "significance.csv"):
        assert (tmp_path / "par" / name).read_text() == (tmp_path / "seq" / name).read_text(), name


def test_inner_runs_are_tasks_of_their_own_and_a_fold_reads_their_outcomes(store_dir: Path, sequential: Path,
                                                                           tmp_path: Path) -> None:
    """In parallel each inner run is a task; the fold's task reads their outcomes (written atomically beside the
    inner run's state) and gives the sequential fold; a finished fold keeps none of them."""
    from avemotion.training.folds import pending_inner_runs, run_inner
    from avemotion.training.inner import InnerOutcome, inner_outcome_path

    cfg = tiny_config(**{"train.scheme": "kfold", "train.folds": 2, "train.epochs": 2})
    out = tmp_path / "inner"
    seen: list[str] = []
    def stop(stage: str, epoch: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # cut in the first epoch of the first inner run
        run_training(store_dir, out, cfg, on_epoch_end=stop)
    import avemotion.training.trainer as trainer

    captured = {}
    real = trainer.run_folds

    def capture(tasks: list, execution: Execution) -> list:
        captured["tasks"] = list(tasks)
        job, fold = tasks[0]
        assert pending_inner_runs(job, fold) == [0, 1, 2]  # train.inner_folds 3; the cut one has no outcome
        run_inner(job, fold, 1)  # as a worker would
        path = inner_outcome_path(job.rundir / "folds" / str(fold.index), 1)
        outcome = InnerOutcome.load(path)
        assert outcome.answers.epochs == 2 and len(outcome.losses) == 2 and len(outcome.answers.candidates) == 4
        assert set(outcome.c) == set(outcome.heads or {}) == {"fused", "audio", "video"}  # read-outs, fusion
        assert pending_inner_runs(job, fold) == [0, 2]
        seen.append(path.name)
        return real(tasks, execution)

    trainer.run_folds = capture
    try:
        run_training(store_dir, out, cfg)
    finally:
        trainer.run_folds = real
    assert seen == ["outcome.npz"] and _outputs(out) == _outputs(sequential)
    assert not list(out.rglob("outcome.npz")) and not list(out.rglob("state.json"))
    job, fold = captured["tasks"][0]
    assert pending_inner_runs(job, fold) == []  # a finished fold has nothing left to run
    # in parallel: 2 folds x 3 inner runs, then the folds, as the sequential run
    par = tmp_path / "par"
    assert main(["train", "--features", str(store_dir), "--out", str(par), *ARGS, "--workers", "2"]) == 0
    assert _outputs(par) == _outputs(sequential)


def _square(x: int) -> int:
    return x * x


def _init_nothing() -> None:
    pass


def test_followups_run_as_their_results_come_in_and_before_the_tasks_still_waiting() -> None:
    from avemotion.utils.workers import map_with_followups

    def followups(r: int) -> list[int]:
        return [r + 1000] if r < 10 else []  # each first result names one more task

    got = list(map_with_followups(_square, range(6), workers=2, initializer=_init_nothing,
                                  followups=followups))
    assert sorted(got) == sorted([x * x for x in range(6)] + [(x * x + 1000) ** 2 for x in range(4)])
    # one worker: strictly in turn, so a follow-up runs right after the task that named it (before those waiting
    # behind the two already out)
    order = list(map_with_followups(_square, [1, 2, 3, 4], workers=1, initializer=_init_nothing,
                                    followups=lambda r: [5] if r == 1 else []))
    assert order == [1, 4, 25, 9, 16]


@pytest.mark.slow
def test_ray_executor_gives_the_sequential_outputs(store_dir: Path, sequential: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    assert main(["--quiet", "train", "--features", str(store_dir), "--out", str(out), *ARGS,
                 "--executor", "ray", "--workers", "2"]) == 0
    assert _outputs(out) == _outputs(sequential)
    # the final model, trained by a Ray worker beside the refits
    assert (out / "model.safetensors").read_bytes() == (sequential / "model.safetensors").read_bytes()
    # a rerun reads the finished folds back and starts no Ray instance
    import ray

    assert main(["--quiet", "train", "--features", str(store_dir), "--out", str(out), *ARGS,
                 "--executor", "ray", "--workers", "2"]) == 0
    assert not ray.is_initialized() and _outputs(out) == _outputs(sequential)


def test_execution_options_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        Execution(workers=0)
    with pytest.raises(ConfigError, match="--executor ray"):
        Execution(address="10.0.0.1:6379")
    with pytest.raises(ConfigError, match="unknown executor"):
        Execution(executor="dask")
    assert Execution().sequential and not Execution(workers=2).sequential
    assert not Execution(executor="ray").sequential
    assert worker_threads(1, 2) == 1 and worker_threads(8, 2) == 4 and worker_threads(3, 4) == 1
    assert worker_threads(0, 1) >= 1
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ConfigError, match=r"avemotion\[ray\]"):
        Execution(executor="ray")


# --- devices ----------------------------------------------------------------------------------------------
def test_auto_falls_back_to_the_cpu_and_cuda_without_a_gpu_says_what_to_install(
            monkeypatch: pytest.MonkeyPatch, store_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="CUDA build of torch"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="CUDA build of torch"):
        Execution(device="cuda")
    rc = main(["train", "--features", str(store_dir), "--out", str(tmp_path / "gpu"), *ARGS,
               "--device", "cuda"])
    assert rc == 1 and "CUDA build of torch" in capsys.readouterr().err
    assert not (tmp_path / "gpu").exists()  # refused before any work
    monkeypatch.delenv("AVEMOTION_DEVICE", raising=False)
    with pytest.raises(ConfigError, match="CUDA build of torch"):
        set_inference_device("cuda")
    assert inference_device() == "cpu"
    set_inference_device("auto")  # (monkeypatch restores the variable)
    assert inference_device() == "auto"


def test_train_with_device_auto_on_a_cpu_machine_gives_the_cpu_numbers(
        monkeypatch: pytest.MonkeyPatch, store_dir: Path, sequential: Path, tmp_path: Path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "auto"
    assert main(["--quiet", "train", "--features", str(store_dir), "--out", str(out), *ARGS,
                 "--device", "auto"]) == 0
    assert _outputs(out) == _outputs(sequential)


def test_a_placed_model_takes_and_gives_cpu_tensors_and_trains_the_same() -> None:
    """The device hooks (exercised on the CPU): the same outputs and gradients as the bare model."""
    clips, labels = toy_clips(6)
    cfg = tiny_config()
    from model_helpers import DIMS

    batch = collate(clips, DIMS, None)
    outs = []
    for placed in (False, True):
        torch.manual_seed(0)
        model = build_model("bimodal", DIMS, 4, cfg.model)
        if placed:
            model = attach(model, torch.device("cpu"))
            assert len(model._avemotion_device_hooks) == 2
            attach(model, torch.device("cpu"))  # placing again replaces the hooks
            assert len(model._forward_pre_hooks) == 1 and len(model._forward_hooks) == 1
        model.train()
        torch.manual_seed(1)
        out = model(batch)
        out.probs[torch.arange(6), torch.as_tensor(labels)].log().sum().backward()
        outs.append((out.probs.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    assert torch.equal(outs[0][0], outs[1][0])
    assert all(torch.equal(a, b) for a, b in zip(outs[0][1], outs[1][1], strict=True))
    bare = build_model("bimodal", DIMS, 4, cfg.model)
    assert place(bare, "cpu") is bare and not hasattr(bare, "_avemotion_device_hooks")
