"""docs/weights.md, generated from the table (``python tools/weights.py docs`` rewrites it)."""
from __future__ import annotations

import os
from pathlib import Path

from hrseg.errors import ConfigError
from hrseg.weights.records import RECORDS
from hrseg.weights import cache_dir, list_weights
from hrseg.utils.io import atomic_path

_TASKS = (("pose", "Pose (COCO keypoints)"), ("segmentation", "Segmentation"), ("imagenet", "ImageNet backbones"),
          ("detection", "Detection"))

_INTRO = """# Published weights

Generated from `hrseg/weights/records.py` by `python tools/weights.py docs`; do not edit by hand.

Every file below loads by name: `hrseg.build_model(MODEL, weights=TAG_OR_NAME)` for a whole
model, `hrseg.build_model(MODEL, pretrained="imagenet" | NAME | PATH)` for the backbone only
(`model.pretrained` in a config), `--weights NAME` in the tools, `python tools/weights.py download NAME`.
Files go to `$HRSEG_HOME/weights` (default `<torch hub dir>/hrseg/weights`): downloaded to a
temporary name with a progress bar, checked against the SHA-256 prefix in the published file
name where it has one (the timm and official GitHub-release files have none), then renamed; a
file in the cache is used without network. Offline, the error names the URL and the exact path
to put the file at; a file put there by hand is checked against the prefix when first used (a
`.verified` stamp beside it spares hashing it again while it is unchanged).
`python tools/weights.py verify FILE` says what a file is and whether its hash matches.
`--weights` also takes a URL (`https://`, `file://`: another project's checkpoint, as mmpose
and mmdetection users pass them): downloaded once into `$HRSEG_HOME/weights/urls/`,
checked against the SHA-256 prefix of a torch.hub- or OpenMMLab-style name (`name-<hex>.pth`,
`name-<hex>_<date>.pth`), then read like a file (a published file under another address is still
known by its hash). Files of other classes than a model's default (PASCAL-Context's 59, LIP's 20)
build it with their classes (`hrseg.build_model("seg_hrnetv2_w48", weights="pascal_context_59")`), pose
files of other joints or maps with theirs (MPII's 16 joints, UDP's combined maps: three a joint),
and a whole load sets `model.meta` (input size, normalisation, keypoints or classes), which
`hrseg.save_checkpoint` writes into the file.

Metrics are the publishers' (dataset and protocol in the table), not measured by hrseg. "params"
is the size of the model the file fills (the file is about 4 bytes per parameter). Licences:
OpenMMLab code is Apache-2.0, the official HRNet code MIT, torchvision BSD-3-Clause; none of them
states a separate licence for the weights, and the training data's terms apply (COCO CC BY 4.0
annotations with Flickr images; Cityscapes, PASCAL-Context and ImageNet are research datasets).

## Conventions that travel with the weights

- mmsegmentation files are trained with `align_corners=False`; the official OCR files and the
  official ADE20K and COCO-Stuff files (HRNet-OCR code, whose YAMLs leave its default) with `True`.
  Loading sets it on the model, whatever it was built with.
- mmsegmentation's head convs have no bias where hrseg's have one: it is set to 0 (exact).
- mmdetection Faster R-CNN: the background class row moves from last to first, class-specific
  box rows get 4 (unused) background rows, and the model gets mmdetection's unrounded anchors,
  aligned RoIAlign and its RPN test setting (1000 proposals before and after NMS, where the model
  kept the builder's 2000); images are still padded to a multiple of 64 (mmdetection pads to 32),
  which makes the V2p levels exactly mmdetection's HRFPN. With `pretrained=` (the backbone only)
  none of this is set.
- mmdetection Cascade (Mask) R-CNN: as Faster R-CNN's (background first, anchors, RoIAlign, RPN), each of
  the three stages' classifier, class-agnostic regression and mask head (`det_cascadercnn_*`,
  `det_cascademaskrcnn_*`, docs/detection.md). HTC: the same, with its semantic head and each later
  mask head's `conv_res` (`det_htc_*`, docs/detection.md).
- mmdetection FCOS: the model gets mmdetection's FCOS head and test (`head_type="mmdetection"`,
  docs/detection.md), and the first convolution's input channels are reversed: mmdetection fed
  these files BGR, hrseg's models take RGB.

## The person detector in front of pose

`hrseg infer pose` and `hrseg serve --pose` find people with
`hrseg.tasks.person_boxes.person_detector()` (`--det-weights` / `--pose-det-weights` name another):
by default torchvision's `fasterrcnn_resnet50_fpn_v2` COCO weights
(`fasterrcnn_resnet50_fpn_v2.torchvision_coco`, through hrseg's cache and torchvision's
published URL and hash). Chosen over hrseg's `det_fasterrcnn_hrnetv2p_w32` with mmdetection's
COCO weights because it is the stronger detector (box mAP 46.7 against 41.4), it needs no
conversion (the mmdetection file's class, anchor and RoIAlign conventions are converted by
hrseg and checked on deterministic weights only, not against mmdetection itself), and it is a
little smaller (43.7M against 47.3M parameters). The HRNet detector is one argument away:
`--det-weights det_fasterrcnn_hrnetv2p_w32.mmdet_coco_2x`; an hrseg detection checkpoint
path works too.
"""


def _row(r) -> str:
    tags = ", ".join(f"`{t}`" for t in r.tags) or "—"
    sha = f"`{r.sha256}`" if r.sha256 else "—"
    return (f"| `{r.name}` | {tags} | {r.metric} | {r.dataset} | {r.source} | {r.licence.split(' (')[0]} | "
            f"{r.params_m:.2f}M | {sha} | [file]({r.url}) |")


def render_markdown() -> str:
    """The weights page, one table per task, in the table's order."""
    head = ("| name | tags | metric | dataset, protocol | source | licence | params | sha256 | url |\n"
            "|---|---|---|---|---|---|---:|---|---|")
    parts = [_INTRO]
    for task, title in _TASKS:
        rows = [_row(r) for r in RECORDS if r.task == task and r.layout != "torchvision"]
        parts.append(f"## {title}\n\n{head}\n" + "\n".join(rows) + "\n")
    rows = [_row(r) for r in RECORDS if r.layout == "torchvision"]
    parts.append(f"## Person detector\n\n{head}\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


def format_list(pattern: str = "", model: str | None = None) -> str:
    """One line per record for ``tools/weights.py list``: name, tags, metric, cached or not."""
    names = set(list_weights(pattern, model))
    lines = [f"{'name (--weights NAME)':58s} {'tags (weights=TAG)':22s} {'published metric':24s} cache"] if names else []
    for r in RECORDS:
        if r.name in names:
            cached = "cached" if (cache_dir() / r.filename).is_file() else ""
            lines.append(f"{r.name:58s} {','.join(r.tags) or '-':22s} {r.metric:24s} {cached}".rstrip())
    return "\n".join(lines)


_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the clone's root, when hrseg runs from one


def source_page() -> Path | None:
    """docs/weights.md of the source clone this hrseg runs from (None for an installed package)."""
    is_clone = (_SOURCE_ROOT / "pyproject.toml").is_file() and (_SOURCE_ROOT / "docs").is_dir()
    return _SOURCE_ROOT / "docs" / "weights.md" if is_clone else None


def write_docs(path: str | os.PathLike | None = None) -> Path:
    """Write the page to ``path``, by default the clone's docs/weights.md (never the working
    directory's); outside a clone without ``path``, a :class:`ConfigError` saying so."""
    target = Path(path) if path is not None else source_page()
    if target is None:
        raise ConfigError(f"this hrseg is an installed package, not a source clone ({_SOURCE_ROOT} has no "
                          "pyproject.toml and docs/ of hrseg's): pass --out FILE to write the weights page there")
    with atomic_path(target) as tmp:
        tmp.write_text(render_markdown())
    return target
