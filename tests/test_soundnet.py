"""The SoundNet-8 port: weights, geometry, eval-mode batch norm, determinism, a numpy re-computation of the
first layers, and head outputs that tell speech, tones and noise apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audio_helpers import noise, speech_like, tone

from avemotion.features.audio.soundnet import layer_stream
from avemotion.features.nets import soundnet as sn

SR = sn.SAMPLE_RATE


@pytest.fixture(scope="module")
def model() -> sn.SoundNet8:
    return sn.shared_model()


@pytest.fixture(scope="module")
def weights() -> dict:
    return sn.load_weights()


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sum(a * np.log((a + 1e-12) / (b + 1e-12))))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def test_weights_match_the_layer_table(weights: dict) -> None:
    for spec in sn.LAYERS:
        d = weights[spec.name]
        assert d["weights"].shape == (spec.kernel, 1, spec.in_ch, spec.out_ch)
        for key in ("biases", "gamma", "beta", "mean", "var"):
            assert d[key].shape == (spec.out_ch,)
        assert (d["var"] > 0).all()
    assert weights["conv8"]["weights"].shape == (8, 1, 1024, 1000)
    assert weights["conv8_2"]["weights"].shape == (8, 1, 1024, 401)


def test_loaded_parameters_are_the_transposed_file(model: sn.SoundNet8, weights: dict) -> None:
    w = model.convs["conv3"].weight.detach().numpy()  # (out, in, k)
    src = weights["conv3"]["weights"]  # (k, 1, in, out)
    assert w.shape == (64, 32, 16)
    assert w[5, 7, 3] == src[3, 0, 7, 5]
    assert np.array_equal(model.bns["conv7"].running_var.numpy(), weights["conv7"]["var"])
    assert np.array_equal(model.scene_head.bias.detach().numpy(), weights["conv8_2"]["biases"])


@pytest.mark.parametrize("layer", ["conv1", "conv3", "conv5", "conv6", "conv7"])
def test_geometry_matches_the_network(model: sn.SoundNet8, layer: str) -> None:
    for n in (sn.min_samples(layer), 22050, 66150 + 17):
        with torch.inference_mode():
            out = model.features(torch.zeros(1, 1, n), layer)
        assert out.shape[2] == sn.output_length(n, layer)
    if sn.min_samples(layer) > 1:
        assert sn.output_length(sn.min_samples(layer) - 1, layer) == 0


def test_batch_norm_stays_in_eval_mode(model: sn.SoundNet8) -> None:
    net = sn.SoundNet8.pretrained()
    net.train()  # frozen: train() must not switch batch norm to batch statistics
    assert all(not bn.training for bn in net.bns.values())
    a = torch.from_numpy(speech_like(2.0, SR, seed=1) * 256.0).view(1, 1, -1)
    b = torch.from_numpy(noise(2.0, SR, seed=2) * 256.0).view(1, 1, -1)
    with torch.no_grad():
        alone = net.features(a, "conv7")
        batched = net.features(torch.cat([a, b]), "conv7")[:1]  # no batch statistics: b must not leak into a
        reference = model.features(a, "conv7")
    assert torch.allclose(alone, batched, atol=1e-5)
    assert torch.allclose(alone, reference, atol=1e-5)
    mean_before = net.bns["conv1"].running_mean.clone()
    net.set_trainable(True)  # fine-tuning keeps the pretrained statistics by default
    net.train()
    with torch.enable_grad():
        net.features(torch.cat([a, b]), "conv7").sum().backward()
    assert all(not bn.training for bn in net.bns.values())
    assert torch.equal(mean_before, net.bns["conv1"].running_mean)
    assert net.convs["conv1"].weight.grad is not None


def test_frozen_by_default(model: sn.SoundNet8) -> None:
    assert not any(p.requires_grad for p in model.parameters())


def test_deterministic(model: sn.SoundNet8) -> None:
    x = speech_like(3.0, SR, seed=3)
    a = layer_stream(x, "conv7", model)
    b = layer_stream(x, "conv7", sn.SoundNet8.pretrained().eval())
    assert np.array_equal(a.values, b.values) and np.array_equal(a.times, b.times)


def _np_conv_bn_relu(x: np.ndarray, d: dict, stride: int, pad: int) -> np.ndarray:
    """Straightforward numpy: zero padding, cross-correlation, batch norm with running stats, ReLU."""
    w = d["weights"][:, 0]  # (k, in, out)
    k = w.shape[0]
    xp = np.pad(x, ((0, 0), (pad, pad)))
    n_out = (xp.shape[1] - k) // stride + 1
    windows = np.stack([xp[:, i * stride : i * stride + k] for i in range(n_out)])  # (T, in, k)
    y = np.einsum("tik,kio->ot", windows.astype(np.float64), w.astype(np.float64)) + d["biases"][:, None]
    y = (y - d["mean"][:, None]) / np.sqrt(d["var"][:, None] + sn.BN_EPS)
    y = y * d["gamma"][:, None] + d["beta"][:, None]
    return np.maximum(y, 0.0)


def _np_pool(x: np.ndarray, k: int) -> np.ndarray:
    n = x.shape[1] // k
    return x[:, : n * k].reshape(x.shape[0], n, k).max(axis=2)


def test_numpy_recomputation_of_first_layers(model: sn.SoundNet8, weights: dict) -> None:
    x = speech_like(0.5, SR, seed=4)
    inp = (x.astype(np.float64) * 256.0)[None, :]
    c1 = _np_conv_bn_relu(inp, weights["conv1"], 2, 32)
    c2 = _np_conv_bn_relu(_np_pool(c1, 8), weights["conv2"], 2, 16)
    c3 = _np_conv_bn_relu(_np_pool(c2, 8), weights["conv3"], 2, 8)
    t = torch.from_numpy(x * 256.0).view(1, 1, -1)
    with torch.inference_mode():
        for name, ref in (("conv1", c1), ("conv2", c2), ("conv3", c3)):
            got = model.features(t, name)[0].double().numpy()
            assert got.shape == ref.shape
            scale = np.abs(ref).max()
            assert scale > 0.1  # the layer is alive on this input
            np.testing.assert_allclose(got, ref, atol=1e-4 * scale, rtol=1e-4)


@pytest.mark.slow
def test_heads_tell_speech_tone_and_noise_apart(model: sn.SoundNet8) -> None:
    probs = {
        "speech": sn.predict_heads(speech_like(4.0, SR, seed=0), model),
        "tone": sn.predict_heads(tone(4.0, SR, 440.0), model),
        "noise": sn.predict_heads(noise(4.0, SR, seed=0), model),
        "noise2": sn.predict_heads(noise(4.0, SR, seed=1), model),
        "tone2": sn.predict_heads(tone(4.0, SR, 1000.0), model),
    }
    for obj, scene in probs.values():
        assert obj.shape == (1000,) and scene.shape == (401,)
        assert obj.sum() == pytest.approx(1.0, abs=1e-4) and scene.sum() == pytest.approx(1.0, abs=1e-4)
    for head in (0, 1):
        same = js_divergence(probs["noise"][head], probs["noise2"][head])  # two noise recordings
        assert same < 0.01
        for a, b in (("tone", "noise"), ("tone", "speech"), ("tone2", "noise"), ("tone", "tone2")):
            assert js_divergence(probs[a][head], probs[b][head]) > 5 * same + 0.03, (head, a, b)
        # the predictions are spread, not one class for every input (what broken edge handling gives)
        assert probs["noise"][head].max() < 0.5
    top_scene = {k: int(np.argmax(v[1])) for k, v in probs.items()}
    assert top_scene["noise"] == top_scene["noise2"]
    assert top_scene["tone"] != top_scene["noise"]
    names = sn.category_names()
    if names is not None:  # noise sounds like water to SoundNet
        top5 = [names["scene"][i] for i in np.argsort(-probs["noise"][1])[:5]]
        assert any(w in s for s in top5 for w in ("creek", "waterfall", "rain", "river", "ocean", "fountain"))


def test_edge_rows_are_not_artefacts(model: sn.SoundNet8) -> None:
    """Zero-padded ends produce conv7 rows with activations far above normal; wrap padding must not."""
    x = noise(9.5, SR, seed=5, amp=0.3)
    stream = layer_stream(x, "conv7", model)
    level = stream.values.mean(axis=1)
    assert level.max() < 3 * np.median(level) + 1e-3
    assert ((stream.times >= 0) & (stream.times < 9.5)).all()


def test_short_clip_gives_a_row(model: sn.SoundNet8) -> None:
    for layer in ("conv5", "conv7"):
        s = layer_stream(speech_like(0.2, SR, seed=6), layer, model)
        assert s.values.shape[0] >= 1 and np.isfinite(s.values).all()


def test_fast_inference_path_equals_reference(model: sn.SoundNet8) -> None:
    """BN folded into the convolutions + polyphase stride-2 convolutions compute the same function."""
    for n in (sn.min_samples("conv7"), 3 * SR + 1):
        x = torch.from_numpy(speech_like(n / SR + 1e-6, SR, seed=7)[:n] * 256.0).view(1, 1, -1)
        with torch.inference_mode():
            for layer in ("conv1", "conv2", "conv5", "conv7"):
                ref = model.features(x, layer)
                got = model.fast_features(x, layer)
                assert got.shape == ref.shape
                assert torch.allclose(got, ref, atol=1e-5 * float(ref.abs().max()) + 1e-6)
