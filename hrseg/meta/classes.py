"""Class tables and palettes: Cityscapes (the official cityscapesScripts ``labels.py``),
PASCAL-Context 59/60 and ADE20K (mmsegmentation's names and palettes), PASCAL VOC (the development
kit's colour map), LIP, COCO's 80 categories and COCO-Stuff's 171 classes, plus colouring label maps.

Label maps use 255 for "ignore" everywhere in hrseg.
"""
from __future__ import annotations

import colorsys
from typing import Any, NamedTuple, Sequence

import numpy as np

from hrseg.meta.keypoints import flip_index

IGNORE_INDEX = 255


class CityscapesLabel(NamedTuple):
    name: str
    id: int  # the value in *_gtFine_labelIds.png
    train_id: int  # 0..18, or 255 when the class is not trained/evaluated
    category: str
    has_instances: bool
    color: tuple[int, int, int]


_L = CityscapesLabel
# cityscapesScripts/helpers/labels.py, ids 0..33 (its 'license plate', id -1, never occurs in the
# labelIds PNGs: plates are labelled as the vehicle they belong to).
CITYSCAPES_LABELS: tuple[CityscapesLabel, ...] = (
    _L("unlabeled", 0, 255, "void", False, (0, 0, 0)),
    _L("ego vehicle", 1, 255, "void", False, (0, 0, 0)),
    _L("rectification border", 2, 255, "void", False, (0, 0, 0)),
    _L("out of roi", 3, 255, "void", False, (0, 0, 0)),
    _L("static", 4, 255, "void", False, (0, 0, 0)),
    _L("dynamic", 5, 255, "void", False, (111, 74, 0)),
    _L("ground", 6, 255, "void", False, (81, 0, 81)),
    _L("road", 7, 0, "flat", False, (128, 64, 128)),
    _L("sidewalk", 8, 1, "flat", False, (244, 35, 232)),
    _L("parking", 9, 255, "flat", False, (250, 170, 160)),
    _L("rail track", 10, 255, "flat", False, (230, 150, 140)),
    _L("building", 11, 2, "construction", False, (70, 70, 70)),
    _L("wall", 12, 3, "construction", False, (102, 102, 156)),
    _L("fence", 13, 4, "construction", False, (190, 153, 153)),
    _L("guard rail", 14, 255, "construction", False, (180, 165, 180)),
    _L("bridge", 15, 255, "construction", False, (150, 100, 100)),
    _L("tunnel", 16, 255, "construction", False, (150, 120, 90)),
    _L("pole", 17, 5, "object", False, (153, 153, 153)),
    _L("polegroup", 18, 255, "object", False, (153, 153, 153)),
    _L("traffic light", 19, 6, "object", False, (250, 170, 30)),
    _L("traffic sign", 20, 7, "object", False, (220, 220, 0)),
    _L("vegetation", 21, 8, "nature", False, (107, 142, 35)),
    _L("terrain", 22, 9, "nature", False, (152, 251, 152)),
    _L("sky", 23, 10, "sky", False, (70, 130, 180)),
    _L("person", 24, 11, "human", True, (220, 20, 60)),
    _L("rider", 25, 12, "human", True, (255, 0, 0)),
    _L("car", 26, 13, "vehicle", True, (0, 0, 142)),
    _L("truck", 27, 14, "vehicle", True, (0, 0, 70)),
    _L("bus", 28, 15, "vehicle", True, (0, 60, 100)),
    _L("caravan", 29, 255, "vehicle", True, (0, 0, 90)),
    _L("trailer", 30, 255, "vehicle", True, (0, 0, 110)),
    _L("train", 31, 16, "vehicle", True, (0, 80, 100)),
    _L("motorcycle", 32, 17, "vehicle", True, (0, 0, 230)),
    _L("bicycle", 33, 18, "vehicle", True, (119, 11, 32)),
)
del _L

CITYSCAPES_LABEL_IDS: dict[str, int] = {lab.name: lab.id for lab in CITYSCAPES_LABELS}
_TRAIN_LABELS = sorted((lab for lab in CITYSCAPES_LABELS if lab.train_id != IGNORE_INDEX),
                       key=lambda lab: lab.train_id)
CITYSCAPES_CLASSES: tuple[str, ...] = tuple(lab.name for lab in _TRAIN_LABELS)
CITYSCAPES_PALETTE = np.array([lab.color for lab in _TRAIN_LABELS], dtype=np.uint8)

# 256-entry lookup tables; every value that is not a known id maps to ignore.
_LABELID_TO_TRAINID = np.full(256, IGNORE_INDEX, dtype=np.uint8)
_TRAINID_TO_LABELID = np.zeros(256, dtype=np.uint8)  # ignore -> 0 'unlabeled'
for _lab in _TRAIN_LABELS:
    _LABELID_TO_TRAINID[_lab.id] = _lab.train_id
    _TRAINID_TO_LABELID[_lab.train_id] = _lab.id


def _lookup(table: np.ndarray, label: np.ndarray, what: str) -> np.ndarray:
    label = np.asarray(label)
    if label.dtype.kind not in "ui":
        raise ValueError(f"{what}: expected an integer label map, got dtype {label.dtype}")
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError(f"{what}: values must lie in 0..255, got {label.min()}..{label.max()}")
    return table[label]


def cityscapes_labelid_to_trainid(label: np.ndarray) -> np.ndarray:
    """Map Cityscapes labelIds (0..33) to the 19 train ids, 255 for everything not evaluated.

    The same table as cityscapesScripts' ``createTrainIdLabelImgs`` and the official HRNet
    ``label_mapping``; returns uint8 of the same shape.
    """
    return _lookup(_LABELID_TO_TRAINID, label, "labelIds to trainIds")


def cityscapes_trainid_to_labelid(train_ids: np.ndarray) -> np.ndarray:
    """Map train ids back to labelIds (255 -> 0 'unlabeled'), as the benchmark server expects."""
    return _lookup(_TRAINID_TO_LABELID, train_ids, "trainIds to labelIds")


# PASCAL-Context: class index = rank of the Detail API category id among the 59 kept ones
# (mmsegmentation's converter sorts them), which puts the names in alphabetical order.
PASCAL_CONTEXT_59_CLASSES: tuple[str, ...] = (
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book",
    "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth",
    "computer", "cow", "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food",
    "grass", "ground", "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person",
    "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign",
    "sky", "snow", "sofa", "table", "track", "train", "tree", "truck", "tvmonitor", "wall",
    "water", "window", "wood",
)
PASCAL_CONTEXT_60_CLASSES: tuple[str, ...] = ("background",) + PASCAL_CONTEXT_59_CLASSES
# ADE20K (SceneParsing's 150 classes, mmsegmentation's ADE20KDataset names and palette; label 0,
# "other", is ignored: mmsegmentation's reduce_zero_label). mmsegmentation's PASCAL-Context palette is
# this palette's first 60 colours.
ADE20K_CLASSES: tuple[str, ...] = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane",
    "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool",
    "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture",
    "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
ADE20K_PALETTE = np.array([
    [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3], [120, 120, 80], [140, 140, 140],
    [204, 5, 255], [230, 230, 230], [4, 250, 7], [224, 5, 255], [235, 255, 7], [150, 5, 61], [120, 120, 70],
    [8, 255, 51], [255, 6, 82], [143, 255, 140], [204, 255, 4], [255, 51, 7], [204, 70, 3], [0, 102, 200],
    [61, 230, 250], [255, 6, 51], [11, 102, 255], [255, 7, 71], [255, 9, 224], [9, 7, 230], [220, 220, 220],
    [255, 9, 92], [112, 9, 255], [8, 255, 214], [7, 255, 224], [255, 184, 6], [10, 255, 71], [255, 41, 10],
    [7, 255, 255], [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7], [255, 122, 8], [0, 255, 20],
    [255, 8, 41], [255, 5, 153], [6, 51, 255], [235, 12, 255], [160, 150, 20], [0, 163, 255], [140, 140, 140],
    [250, 10, 15], [20, 255, 0], [31, 255, 0], [255, 31, 0], [255, 224, 0], [153, 255, 0], [0, 0, 255],
    [255, 71, 0], [0, 235, 255], [0, 173, 255], [31, 0, 255], [11, 200, 200], [255, 82, 0], [0, 255, 245],
    [0, 61, 255], [0, 255, 112], [0, 255, 133], [255, 0, 0], [255, 163, 0], [255, 102, 0], [194, 255, 0],
    [0, 143, 255], [51, 255, 0], [0, 82, 255], [0, 255, 41], [0, 255, 173], [10, 0, 255], [173, 255, 0],
    [0, 255, 153], [255, 92, 0], [255, 0, 255], [255, 0, 245], [255, 0, 102], [255, 173, 0], [255, 0, 20],
    [255, 184, 184], [0, 31, 255], [0, 255, 61], [0, 71, 255], [255, 0, 204], [0, 255, 194], [0, 255, 82],
    [0, 10, 255], [0, 112, 255], [51, 0, 255], [0, 194, 255], [0, 122, 255], [0, 255, 163], [255, 153, 0],
    [0, 255, 10], [255, 112, 0], [143, 255, 0], [82, 0, 255], [163, 255, 0], [255, 235, 0], [8, 184, 170],
    [133, 0, 255], [0, 255, 92], [184, 0, 255], [255, 0, 31], [0, 184, 255], [0, 214, 255], [255, 0, 112],
    [92, 255, 0], [0, 224, 255], [112, 224, 255], [70, 184, 160], [163, 0, 255], [153, 0, 255], [71, 255, 0],
    [255, 0, 163], [255, 204, 0], [255, 0, 143], [0, 255, 235], [133, 255, 0], [255, 0, 235], [245, 0, 255],
    [255, 0, 122], [255, 245, 0], [10, 190, 212], [214, 255, 0], [0, 204, 255], [20, 0, 255], [255, 255, 0],
    [0, 153, 255], [0, 41, 255], [0, 255, 204], [41, 0, 255], [41, 255, 0], [173, 0, 255], [0, 245, 255],
    [71, 0, 255], [122, 0, 255], [0, 255, 184], [0, 92, 255], [184, 255, 0], [0, 133, 255], [255, 214, 0],
    [25, 194, 194], [102, 255, 0], [92, 0, 255],
], dtype=np.uint8)
PASCAL_CONTEXT_60_PALETTE = ADE20K_PALETTE[:60]  # mmsegmentation's PascalContextDataset palette
PASCAL_CONTEXT_59_PALETTE = PASCAL_CONTEXT_60_PALETTE[1:]
# PASCAL VOC 2012 segmentation: background and the 20 object classes, in the order of the benchmark's
# palette-PNG indices (255: the objects' outlines, ignored).
VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)


def voc_colormap(n: int = 256) -> np.ndarray:
    """The PASCAL VOC development kit's colour map (``labelcolormap.m``): class i's bits spread over the
    top bits of red, green and blue, three at a time. Its first 21 colours are VOC's palette (the one
    mmsegmentation's VOC dataset uses), and its entry 255 the outline colour of the label PNGs."""
    colours = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for shift in range(7, -1, -1):
            r, g, b = r | ((c & 1) << shift), g | (((c >> 1) & 1) << shift), b | (((c >> 2) & 1) << shift)
            c >>= 3
        colours[i] = (r, g, b)
    return colours


VOC_PALETTE = voc_colormap()[:21]


def make_palette(num_classes: int) -> np.ndarray:
    """A deterministic palette of well-separated colours for datasets without one."""
    golden = 0.618033988749895
    colours = [colorsys.hsv_to_rgb((i * golden) % 1.0, 0.65 + 0.35 * (i % 2), 0.95 - 0.3 * (i % 3 == 2))
               for i in range(num_classes)]
    return (np.array(colours).reshape(-1, 3) * 255).round().astype(np.uint8)


# COCO's 80 object categories with their ids (1..90, with gaps), in label order
# (the detection annotation files' ``categories``; torchvision's and mmdetection's order).
COCO_CATEGORIES: tuple[tuple[int, str], ...] = (
    (1, 'person'), (2, 'bicycle'), (3, 'car'), (4, 'motorcycle'), (5, 'airplane'), (6, 'bus'), (7, 'train'),
    (8, 'truck'), (9, 'boat'), (10, 'traffic light'), (11, 'fire hydrant'), (13, 'stop sign'),
    (14, 'parking meter'), (15, 'bench'), (16, 'bird'), (17, 'cat'), (18, 'dog'), (19, 'horse'),
    (20, 'sheep'), (21, 'cow'), (22, 'elephant'), (23, 'bear'), (24, 'zebra'), (25, 'giraffe'),
    (27, 'backpack'), (28, 'umbrella'), (31, 'handbag'), (32, 'tie'), (33, 'suitcase'), (34, 'frisbee'),
    (35, 'skis'), (36, 'snowboard'), (37, 'sports ball'), (38, 'kite'), (39, 'baseball bat'),
    (40, 'baseball glove'), (41, 'skateboard'), (42, 'surfboard'), (43, 'tennis racket'), (44, 'bottle'),
    (46, 'wine glass'), (47, 'cup'), (48, 'fork'), (49, 'knife'), (50, 'spoon'), (51, 'bowl'),
    (52, 'banana'), (53, 'apple'), (54, 'sandwich'), (55, 'orange'), (56, 'broccoli'), (57, 'carrot'),
    (58, 'hot dog'), (59, 'pizza'), (60, 'donut'), (61, 'cake'), (62, 'chair'), (63, 'couch'),
    (64, 'potted plant'), (65, 'bed'), (67, 'dining table'), (70, 'toilet'), (72, 'tv'), (73, 'laptop'),
    (74, 'mouse'), (75, 'remote'), (76, 'keyboard'), (77, 'cell phone'), (78, 'microwave'), (79, 'oven'),
    (80, 'toaster'), (81, 'sink'), (82, 'refrigerator'), (84, 'book'), (85, 'clock'), (86, 'vase'),
    (87, 'scissors'), (88, 'teddy bear'), (89, 'hair drier'), (90, 'toothbrush'),
)
# COCO-Stuff: COCO's 80 things (ids 1..90) and the 91 stuff classes (ids 92..182, the release's
# labels.txt; mmsegmentation's COCOStuffDataset names the same 171 in this order). No palette is
# published with the official HRNet files; hrseg colours them with make_palette.
COCO_STUFF_NAMES: tuple[str, ...] = (
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet",
    "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff",
    "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood",
    "flower", "fog", "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house",
    "leaves", "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing", "railroad", "river",
    "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow",
    "solid-other", "stairs", "stone", "straw", "structural-other", "table", "tent", "textile-other", "towel", "tree",
    "vegetable", "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood",
    "water-other", "waterdrops", "window-blind", "window-other", "wood",
)
COCO_STUFF_CATEGORIES: tuple[tuple[int, str], ...] = COCO_CATEGORIES + tuple(zip(range(92, 183), COCO_STUFF_NAMES))
COCO_STUFF_CLASSES: tuple[str, ...] = tuple(name for _, name in COCO_STUFF_CATEGORIES)
COCO_STUFF_PALETTE = make_palette(len(COCO_STUFF_CLASSES))


def coco_stuff_id_to_class() -> np.ndarray:
    """A 256-entry lookup from a COCO-Stuff label id (0 unlabeled, 1..182) to its class (0..170), 255 for
    the unlabeled pixels and the 11 ids no class has: the official ``COCOStuff.encode_label`` followed
    by ``reduce_zero_label`` (lib/datasets/cocostuff.py)."""
    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for index, (category_id, _) in enumerate(COCO_STUFF_CATEGORIES):
        table[category_id] = index
    return table


# LIP (Look Into Person) human parsing: the 20 classes of the release's parsing annotations
# (0 background .. 19), in the order of its README and of HRNet-Semantic-Segmentation's lip.py.
LIP_CLASSES: tuple[str, ...] = (
    "background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress", "coat", "socks",
    "pants", "jumpsuits", "scarf", "skirt", "face", "left-arm", "right-arm", "left-leg", "right-leg",
    "left-shoe", "right-shoe",
)
# The LIP palette (``label_colours`` of the LIP / JPPNet visualisation code), RGB.
LIP_PALETTE = np.array([
    [0, 0, 0], [128, 0, 0], [255, 0, 0], [0, 85, 0], [170, 0, 51], [255, 85, 0], [0, 0, 85],
    [0, 119, 221], [85, 85, 0], [0, 85, 85], [85, 51, 0], [52, 86, 128], [0, 128, 0], [0, 0, 255],
    [51, 170, 221], [0, 255, 255], [85, 255, 170], [170, 255, 85], [255, 255, 0], [255, 170, 0],
], dtype=np.uint8)
# Classes that trade places under a horizontal flip: left/right arm, leg and shoe.
LIP_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((14, 15), (16, 17), (18, 19))


def flip_permutation(num_classes: int, flip_pairs: Sequence[Sequence[int]]) -> np.ndarray:
    """``perm[c]`` = the class ``c`` becomes in a mirrored image (identity except the pairs).

    Used both ways: on a label map (``perm[label]``, with ignore kept) and on a flipped score
    map (``scores[perm]``), since a swap is its own inverse. The pairs are checked as a keypoint
    set's are (:func:`hrseg.meta.keypoints.flip_index`): ValueError naming ``flip_pairs`` on a class
    outside ``0..num_classes-1``, paired with itself or named in two pairs.
    """
    return np.asarray(flip_index(flip_pairs, num_classes, "flip_pairs", "class"), dtype=np.int64)


def flip_label_map(label: np.ndarray, perm: np.ndarray, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """A label map mirrored left-right with the left/right classes swapped by ``perm``."""
    flipped = np.ascontiguousarray(np.asarray(label)[:, ::-1])
    valid = (flipped >= 0) & (flipped < len(perm)) & (flipped != ignore_index)
    out = flipped.copy()
    out[valid] = perm[flipped[valid]]
    return out


def coco80_categories() -> list[dict[str, Any]]:
    """The 80 COCO categories ``[{'id', 'name'}]`` in label order (:data:`COCO_CATEGORIES`), the
    classes of published COCO detectors."""
    return [{"id": i, "name": n} for i, n in COCO_CATEGORIES]
