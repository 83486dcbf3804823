"""How hard is the synthetic corpus? Quick unimodal and concatenated classifiers, speaker-grouped CV.

    PYTHONPATH=src python benchmarks/synthetic_unimodal.py CORPUS_DIR

Audio: librosa MFCC (20) mean/SD, YIN pitch statistics (median, IQR, slope), RMS level statistics, spectral
centroid and rolloff, zero-crossing rate, onset rate. Video: FaceMesh landmarks per frame (15 fps) turned
into 14 face-size-normalised measurements (brow-eye distances, eye opening, mouth width and opening,
mouth-corner height, nose-lip distance, head roll) and their mean/SD/min/max over the clip. Standardised
features + logistic regression; leave-one-speaker-out folds. Prints accuracy and macro-F1 per setting.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import librosa
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from avemotion.media import iter_frames, load_audio
from avemotion.utils.progress import progress


def audio_features(y: np.ndarray, sr: int) -> np.ndarray:
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, n_fft=512, hop_length=160)
    rms = librosa.feature.rms(y=y, frame_length=512, hop_length=160)[0]
    db = 20 * np.log10(rms + 1e-5)
    f0 = librosa.yin(y, fmin=60, fmax=600, sr=sr, frame_length=1024, hop_length=160)
    n = min(f0.size, rms.size)
    voiced = rms[:n] > 0.3 * rms.max()
    st = 12 * np.log2(f0[:n][voiced] / 100.0) if voiced.any() else np.zeros(1)
    t = np.arange(st.size)
    slope = np.polyfit(t, st, 1)[0] * 100 if st.size > 2 else 0.0
    cent = librosa.feature.spectral_centroid(y=y, sr=sr, n_fft=512, hop_length=160)[0]
    roll = librosa.feature.spectral_rolloff(y=y, sr=sr, n_fft=512, hop_length=160)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=512, hop_length=160)[0]
    onsets = librosa.onset.onset_detect(y=y, sr=sr, hop_length=160)
    return np.concatenate([
        mfcc.mean(1), mfcc.std(1),
        [np.median(st), np.subtract(*np.percentile(st, [90, 10])), np.std(st), slope],
        [db.max(), np.percentile(db, 90), np.std(db[db > db.max() - 30])],
        [cent[voiced[: cent.size]].mean() if voiced.any() else cent.mean(), roll.mean(), zcr.mean()],
        [onsets.size / (y.size / sr), voiced.mean()],
    ])


def face_measures(lm: np.ndarray) -> np.ndarray:
    eye_r, eye_l = lm[[33, 133]].mean(0), lm[[263, 362]].mean(0)
    iod = np.linalg.norm(eye_l - eye_r)
    ang = np.arctan2(*(eye_l - eye_r)[::-1])
    rot = np.array([[np.cos(-ang), -np.sin(-ang)], [np.sin(-ang), np.cos(-ang)]])
    p = (lm - lm[[33, 133, 263, 362]].mean(0)) @ rot.T / iod  # upright, unit inter-ocular distance

    def d(a: int, b: int) -> float:
        return np.linalg.norm(p[a] - p[b])

    mouth_c = 0.5 * (p[13] + p[14])
    return np.array([
        d(105, 159), d(334, 386), d(107, 133), d(336, 362), d(107, 336),  # brows: raise, inner, furrow
        d(159, 145), d(386, 374),  # eye opening
        d(61, 291), d(13, 14),  # mouth width, opening
        p[61, 1] - mouth_c[1], p[291, 1] - mouth_c[1],  # corner height (down +)
        d(1, 0), d(0, 17), ang,  # nose-lip, lip thickness, roll
    ])


def video_features(path: Path, mesh) -> np.ndarray:
    rows = []
    for frame in iter_frames(path, 15.0):
        res = mesh.process(frame.image)
        if res.multi_face_landmarks:
            h, w = frame.image.shape[:2]
            lm = np.array([[q.x * w, q.y * h] for q in res.multi_face_landmarks[0].landmark])
            rows.append(face_measures(lm))
    m = np.array(rows) if rows else np.zeros((1, 14))
    return np.concatenate([m.mean(0), m.std(0), m.min(0), m.max(0)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    args = ap.parse_args()
    import mediapipe as mp

    rows = list(csv.DictReader(open(args.corpus / "metadata.csv", encoding="utf-8")))
    labels = np.array([r["label"] for r in rows])
    groups = np.array([r["speaker"] for r in rows])
    xa, xv = [], []
    for r in progress(rows, desc="features", unit="clip"):
        path = args.corpus / r["path"]
        xa.append(audio_features(load_audio(path, 16000), 16000))
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1) as mesh:
            xv.append(video_features(path, mesh))
    xa_arr, xv_arr = np.array(xa), np.array(xv)
    order = list(dict.fromkeys(labels))
    print(f"{len(rows)} clips, {len(order)} classes, {len(set(groups))} speakers (leave-one-speaker-out); "
          f"chance {1 / len(order):.3f}")
    print("| features | dims | accuracy | macro-F1 |")
    print("|---|---|---|---|")
    preds = {}
    for name, x in (("audio only", xa_arr), ("video only", xv_arr), ("audio + video (concatenated)",
                                                                     np.hstack([xa_arr, xv_arr]))):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=3000))
        pred = cross_val_predict(clf, x, labels, groups=groups, cv=LeaveOneGroupOut())
        preds[name] = pred
        print(f"| {name} | {x.shape[1]} | {accuracy_score(labels, pred):.3f} | "
              f"{f1_score(labels, pred, average='macro'):.3f} |")
    for name in ("audio only", "video only"):
        cm = confusion_matrix(labels, preds[name], labels=order)
        print(f"\nconfusions, {name} (row: true, col: predicted; {', '.join(order)})")
        for lab, row in zip(order, cm, strict=True):
            print(f"{lab:>13} " + " ".join(f"{v:3d}" for v in row))


if __name__ == "__main__":
    main()
