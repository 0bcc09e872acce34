"""Inputs `hrseg track` and the MOTChallenge metrics check: an id twice in one frame of results or
ground truth (hrseg/data/mot.py, hrseg/evaluation/mot.py), a frame folder shorter than the
detections (--frames) and the frame rate of a sequence's seqinfo.ini (hrseg/commands/track.py)."""
from __future__ import annotations

import importlib.util
import logging
import re

import cv2
import numpy as np
import pytest

from hrseg.commands._dispatch import main as hrseg_main
from hrseg.data.mot import MotBox, read_mot, seqinfo_frame_rate, sequence_info, write_mot
from hrseg.errors import DataError

needs_track = pytest.mark.skipif(importlib.util.find_spec("trackers") is None,
                                 reason="the tracking extra is not installed (pip install -e '.[track]')")

TWO_PEOPLE = [MotBox(f, k, 10 + 5 * f + 150 * (k - 1), 10, 30, 60, 1, (1, 1)) for f in (1, 2, 3) for k in (1, 2)]


def _files(tmp_path, res_lines=(), gt_lines=()):
    """gt.txt and res.txt of two people over three frames, plus extra lines at the end."""
    gt = write_mot(tmp_path / "gt.txt", TWO_PEOPLE, results=False)
    res = write_mot(tmp_path / "res.txt", [MotBox(b.frame, b.id, *b.xywh) for b in TWO_PEOPLE])
    for path, lines in ((gt, gt_lines), (res, res_lines)):
        path.write_text(path.read_text() + "".join(f"{line}\n" for line in lines))
    return gt, res


def test_an_id_twice_in_a_frame_names_file_frame_id_and_lines(tmp_path):
    _, res = _files(tmp_path, res_lines=["2,1,100,10,30,60,1,-1,-1,-1"])  # line 7: id 1 again in frame 2
    with pytest.raises(DataError) as e:
        read_mot(res, unique_ids=True)
    assert str(e.value) == (f"{res}: line 7: frame 2 has id 1 again (first on line 3); "
                            "an id is one box a frame (TrackEval refuses such a file)")
    assert len(read_mot(res)) == 7  # detections (id -1 on every line) are read without the check
    det = write_mot(tmp_path / "det.txt", [MotBox(1, -1, 0, 0, 5, 5), MotBox(1, -1, 9, 9, 5, 5)])
    assert len(read_mot(det)) == 2


@needs_track
@pytest.mark.parametrize("which", ["res", "gt"])
def test_scoring_refuses_an_id_twice_in_a_frame(tmp_path, capsys, which):
    from hrseg.evaluation.mot import evaluate_mot

    # ground truth: refused even on a line not counted (consider flag 0), as TrackEval checks every line
    extra = {"res_lines": ["3,2,100,10,30,60,1,-1,-1,-1"]} if which == "res" else {"gt_lines": ["3,2,5,5,9,9,0,1,1"]}
    gt, res = _files(tmp_path, **extra)
    bad = res if which == "res" else gt
    with pytest.raises(DataError, match=f"^{re.escape(str(bad))}: line 7: frame 3 has id 2 again"):
        evaluate_mot(gt, res)
    assert hrseg_main(["track", str(res), "--eval", str(gt)]) == 2
    out, err = capsys.readouterr()
    assert err == f"error: {bad}: line 7: frame 3 has id 2 again (first on line 6); " \
                  "an id is one box a frame (TrackEval refuses such a file)\n" and out == ""
    (tmp_path / "fine").mkdir()
    assert evaluate_mot(*_files(tmp_path / "fine"))["IDF1"] == 1.0  # the same files without the line


def _det_lines(frames):
    return "".join(f"{f},-1,{10 + 2 * f},10,30,60,0.9,-1,-1,-1\n" for f in frames)


def _frames(folder, count):
    folder.mkdir(parents=True)
    for i in range(1, count + 1):
        cv2.imwrite(str(folder / f"{i:06d}.jpg"), np.full((64, 96, 3), 10 * i, np.uint8))
    return folder


@needs_track
def test_a_frame_folder_shorter_than_the_detections_is_a_warning(tmp_path, caplog):
    det = tmp_path / "det.txt"
    det.write_text(_det_lines(range(1, 21)))
    short, full = _frames(tmp_path / "short", 6), _frames(tmp_path / "full", 20)
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        assert hrseg_main(["track", str(det), "--out", str(tmp_path / "a.txt"), "--frames", str(short)]) == 0
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"{short}: 6 frames, but the detections span 20: frames after 6 are tracked by motion alone, without the look"]
    assert {b.frame for b in read_mot(tmp_path / "a.txt")} >= set(range(7, 21))  # those past the folder too
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hrseg"):  # more frames than detections: usual, no word
        assert hrseg_main(["track", str(det), "--out", str(tmp_path / "b.txt"), "--frames", str(full)]) == 0
        det.write_text(_det_lines(range(1, 5)))
        assert hrseg_main(["track", str(det), "--out", str(tmp_path / "c.txt"), "--frames", str(full)]) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_frame_folder_without_frames_is_an_error(tmp_path, capsys):
    det = tmp_path / "det.txt"
    det.write_text(_det_lines(range(1, 4)))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    assert hrseg_main(["track", str(det), "--out", str(tmp_path / "r.txt"), "--frames", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'empty'}: no frames found")


def _sequence(root, frame_rate):
    """SEQ/det/det.txt of two still people, the first gone for frames 6-20; SEQ/seqinfo.ini."""
    (root / "det").mkdir(parents=True)
    boxes = [MotBox(f, -1, 50, 40, 30, 60, 0.9) for f in [*range(1, 6), *range(21, 26)]]
    boxes += [MotBox(f, -1, 200, 40, 30, 60, 0.9) for f in range(1, 26)]
    write_mot(root / "det" / "det.txt", boxes)
    (root / "seqinfo.ini").write_text(f"[Sequence]\nname=SEQ\nimDir=img1\nframeRate={frame_rate}\nseqLength=25\n")
    return root / "det" / "det.txt"


def _ids_of_first(out):
    return {b.id for b in read_mot(out) if b.x == 50}


@needs_track
def test_the_frame_rate_comes_from_seqinfo_unless_given(tmp_path, caplog):
    # lost-frames 30 at 30 frames/s: the first person's 15 missing frames are bridged; at 10 frames/s
    # (seqinfo.ini) the track is kept 10 frames only, and the person comes back with a new id
    det = _sequence(tmp_path / "SEQ", 10)
    assert sequence_info(det) == (tmp_path / "SEQ" / "seqinfo.ini").absolute()
    out = tmp_path / "res.txt"
    with caplog.at_level(logging.INFO, logger="hrseg"):
        assert hrseg_main(["track", str(det), "--out", str(out)]) == 0
    assert len(_ids_of_first(out)) == 2
    assert [r.getMessage() for r in caplog.records if "frameRate" in r.getMessage()] == [
        f"{(tmp_path / 'SEQ' / 'seqinfo.ini').absolute()}: tracking at its frameRate, 10 frames/s "
        "(--frame-rate sets another)"]
    assert hrseg_main(["track", str(det), "--out", str(out), "--frame-rate", "30"]) == 0  # the option wins
    assert len(_ids_of_first(out)) == 1
    elsewhere = tmp_path / "det.txt"  # not in a sequence's layout: the default, 30
    elsewhere.write_bytes(det.read_bytes())
    assert sequence_info(elsewhere) is None
    assert hrseg_main(["track", str(elsewhere), "--out", str(out)]) == 0
    assert len(_ids_of_first(out)) == 1


@pytest.mark.parametrize("text, says", [
    ("[Sequence]\nframeRate=fast\n", "frameRate must be a positive number, got 'fast'"),
    ("[Sequence]\nframeRate=0\n", "frameRate must be a positive number, got '0'"),
    ("[Sequence]\nname=SEQ\n", r"no frameRate= in a \[Sequence\] section"),
    ("frameRate=25\n", "not a sequence info file: File contains no section headers"),
])
def test_a_bad_seqinfo_names_the_file(tmp_path, capsys, text, says):
    det = _sequence(tmp_path / "SEQ", 25)
    info = tmp_path / "SEQ" / "seqinfo.ini"
    assert seqinfo_frame_rate(info) == 25.0
    info.write_text(text)
    with pytest.raises(DataError, match=f"^{re.escape(str(info))}: {says}"):
        seqinfo_frame_rate(info)
    assert hrseg_main(["track", str(det), "--out", str(tmp_path / "res.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {info.absolute()}: ") and err.count("\n") == 1


def test_frame_rate_option_must_be_positive(tmp_path, capsys):
    det = _sequence(tmp_path / "SEQ", 25)
    with pytest.raises(SystemExit) as e:
        hrseg_main(["track", str(det), "--out", str(tmp_path / "res.txt"), "--frame-rate", "0"])
    assert e.value.code == 2 and "--frame-rate: must be above 0" in capsys.readouterr().err
