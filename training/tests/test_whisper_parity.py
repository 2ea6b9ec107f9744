"""Same text as faster-whisper's greedy path (fw_reference.GREEDY) on espeak-ng speech, a RAVDESS file
and a real MOSI clip, through our numpy mel + ONNX graphs + greedy decoding."""

import shutil
import subprocess

import pytest

from training.tests.whisper_fixtures import installed_model
from training.whisper.audio import load_audio
from training.whisper.decode import WhisperOnnx
from training.whisper.fw_reference import fw_transcribe, load_faster_whisper
from training.whisper.paths import DATA_DIR
from training.whisper.transcribe import Mode, transcribe_signals


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    paths = []
    if shutil.which("espeak-ng"):
        wav = tmp_path_factory.mktemp("espeak") / "espeak.wav"
        subprocess.run(
            [
                "espeak-ng",
                "-v",
                "en-us",
                "-s",
                "160",
                "-w",
                str(wav),
                "the movie was long but i really liked the music",
            ],
            check=True,
            capture_output=True,
        )
        paths.append(wav)
    for rel in ("ravdess/03-01-05-02-02-01-14.flac", "samples/03bSnISJMiM_1.wav"):
        if (DATA_DIR / rel).exists():
            paths.append(DATA_DIR / rel)
    if len(paths) < 2:
        pytest.skip(f"espeak-ng or the data in {DATA_DIR} missing")
    return [load_audio(p) for p in paths]


@pytest.mark.parametrize("name,n_clips", [("tiny.en", 3), ("base", 1)])
def test_same_text_as_faster_whisper(name, n_clips, clips):
    pytest.importorskip("faster_whisper")
    d = installed_model(name)
    signals = clips[:n_clips]
    ours = transcribe_signals(WhisperOnnx(d, threads=2), signals, Mode())
    fw = load_faster_whisper(d, "float32", threads=2)
    assert ours == [fw_transcribe(fw, s) for s in signals]
    assert all(ours)
