"""The telephone channel (training.whisper.telephone): 8 kHz mu-law, the 300-3400 Hz band, manifests."""

import csv
import subprocess

import numpy as np
import pytest


def tone(path, hz, seconds=1.0):
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
        + ["-f", "lavfi", "-i", f"sine=frequency={hz}:duration={seconds}"]
        + ["-ac", "1", "-ar", "16000", "-sample_fmt", "s16", str(path)],
        check=True,
    )


def rms(x):
    x = x[len(x) // 10 : -len(x) // 10]  # the filters' edges out
    return float(np.sqrt(np.mean(np.square(x))))


def probe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "csv=p=0"]
        + ["-show_entries", "stream=codec_name,sample_rate,channels", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def test_manifest_copies_are_narrowband_mulaw_and_keep_the_rows(tmp_path):
    from training.whisper.audio import load_audio
    from training.whisper.telephone import from_manifest

    (tmp_path / "src").mkdir()
    tone(tmp_path / "src" / "speechband.wav", 1000)
    tone(tmp_path / "src" / "hum.wav", 100)
    manifest = tmp_path / "src" / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, ["id", "voice", "path", "text"])
        w.writeheader()
        w.writerow({"id": "a", "voice": "en-us", "path": "speechband.wav", "text": "one"})
        w.writerow({"id": "b", "voice": "en+f2", "path": str(tmp_path / "src" / "hum.wav"), "text": "two"})
    out = from_manifest(manifest, tmp_path / "tel")
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["id"], r["voice"], r["text"]) for r in rows] == [("a", "en-us", "one"), ("b", "en+f2", "two")]
    assert [r["path"] for r in rows] == [str(tmp_path / "tel" / "a.wav"), str(tmp_path / "tel" / "b.wav")]
    assert probe(rows[0]["path"]) == "pcm_mulaw,8000,1"
    speech_in, speech_out = load_audio(tmp_path / "src" / "speechband.wav"), load_audio(rows[0]["path"])
    hum_in, hum_out = load_audio(tmp_path / "src" / "hum.wav"), load_audio(rows[1]["path"])
    assert abs(len(speech_out) - len(speech_in)) < 160  # the same second, back at 16 kHz
    assert rms(speech_out) > 0.8 * rms(speech_in)  # 1 kHz is in the telephone band
    assert rms(hum_out) < 0.3 * rms(hum_in)  # 100 Hz is below it


def test_bad_manifests_are_refused_by_name(tmp_path):
    from training.whisper.telephone import from_manifest

    no_path = tmp_path / "no-path.csv"
    no_path.write_text("id,text\na,hello\n")
    with pytest.raises(ValueError, match="no column path"):
        from_manifest(no_path, tmp_path / "out")
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("id,path\na,x.wav\na,y.wav\n")
    with pytest.raises(ValueError, match="ids repeat"):
        from_manifest(repeated, tmp_path / "out")
    missing = tmp_path / "missing.csv"
    missing.write_text("id,path\na,nothing-here.wav\n")
    with pytest.raises(FileNotFoundError, match="nothing-here.wav"):
        from_manifest(missing, tmp_path / "out")


def test_ravdess_names_are_kept(tmp_path):
    from training.whisper.telephone import from_ravdess

    src = tmp_path / "ravdess"
    src.mkdir()
    tone(src / "03-01-05-01-02-01-12.wav", 440, 0.3)
    (src / "notes.txt").write_text("not audio")
    out = from_ravdess(src, tmp_path / "tel")
    assert sorted(p.name for p in out.iterdir()) == ["03-01-05-01-02-01-12.wav"]
    assert probe(out / "03-01-05-01-02-01-12.wav") == "pcm_mulaw,8000,1"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no RAVDESS files"):
        from_ravdess(tmp_path / "empty", tmp_path / "x")
