"""The official recipes' values, field by field: for every shipped recipe (:data:`OFFICIAL`) the official value
of each config field and the file it comes from, and (:data:`NOT_IN_CONFIG`) the official details a config
field cannot express, with what hrseg does instead and why. Data only; :mod:`hrseg.recipes` renders and
checks them against the configs.
"""
from __future__ import annotations

from typing import Any

from hrseg.inference.segmentation import SHORT_SIDE_STRIDE
from hrseg.recipes.mmdet import MMDET, MMDET_NOTES, MMDET_RECIPES
from hrseg.recipes.mmseg import MMSEG_RECIPES, MMSEG_REPO
from hrseg.recipes.mmseg import NOTES as MMSEG_NOTES

POSE_REPO = "leoxiaobin/deep-high-resolution-net.pytorch"
SEG_REPO = "HRNet/HRNet-Semantic-Segmentation (branch HRNet-OCR)"
DET_REPO = "HRNet/HRNet-Object-Detection"
SET_AFTER_STEP = "lib/core/function.py train: adjust_learning_rate(..., i_iter + cur_iters) after optimizer.step()"
Row = tuple[str, Any, str]  # (config field, official value, where the official value is)


def _pose(width: int, size: tuple[int, int], sigma: int, batch: int, data: str = "coco") -> tuple[str, list[Row]]:
    h, w = size
    yaml = f"experiments/{data}/hrnet/w{width}_{h}x{w}_adam_lr1e-3.yaml"
    coco = data == "coco"
    rows: list[Row] = [
        ("model.name", f"pose_hrnet_w{width}", "YAML MODEL.NAME pose_hrnet, EXTRA.STAGE*.NUM_CHANNELS"),
        ("data.input_size", [h, w], f"YAML MODEL.IMAGE_SIZE [{w}, {h}] (W, H)"),
        ("data.heatmap_size", [h // 4, w // 4], f"YAML MODEL.HEATMAP_SIZE [{w // 4}, {h // 4}]"),
        ("data.sigma", sigma, "YAML MODEL.SIGMA"),
        ("data.batch_size", batch, "YAML TRAIN.BATCH_SIZE_PER_GPU"),
        ("optimizer.reference_batch", 4 * batch, "YAML GPUS (0,1,2,3) x TRAIN.BATCH_SIZE_PER_GPU"),
        ("optimizer.type", "Adam", "YAML TRAIN.OPTIMIZER adam"),
        ("optimizer.lr", 1e-3, "YAML TRAIN.LR"),
        ("optimizer.weight_decay", 0.0, "lib/utils/utils.py get_optimizer: Adam(lr=...) only (YAML WD unused)"),
        ("schedule.type", "multistep", "tools/train.py MultiStepLR"),
        ("schedule.milestones", [170, 200], "YAML TRAIN.LR_STEP"),
        ("schedule.gamma", 0.1, "YAML TRAIN.LR_FACTOR"),
        ("schedule.step_at_start", True, "tools/train.py: lr_scheduler.step() before train() each epoch"),
        ("train.max_epochs", 210, "YAML TRAIN.END_EPOCH"),
        ("train.eval_interval", 1, "tools/train.py: validate() after every epoch"),
        ("train.sync_bn", False, "tools/train.py: DataParallel, BatchNorm over each GPU's batch"),
        ("data.augment.scale_factor", 0.35 if coco else 0.25, "YAML DATASET.SCALE_FACTOR"),
        ("data.augment.rotation_factor", 45 if coco else 30, "YAML DATASET.ROT_FACTOR"),
        ("data.augment.rotation_prob", 0.6, "lib/dataset/JointsDataset.py: rotate if random.random() <= 0.6"),
        ("data.augment.flip", True, "YAML DATASET.FLIP"),
        ("data.augment.half_body_prob", 0.3 if coco else 0.0, "YAML DATASET.PROB_HALF_BODY" + ("" if coco else
                                                                                            " -1.0: never")),
        ("data.augment.num_joints_half_body", 8, "YAML DATASET.NUM_JOINTS_HALF_BODY"),
        ("loss.type", "mse", "lib/core/loss.py JointsMSELoss"),
        ("loss.use_target_weight", True, "YAML LOSS.USE_TARGET_WEIGHT"),
        ("test.flip", True, "YAML TEST.FLIP_TEST"),
        ("test.shift_heatmap", True, "YAML TEST.SHIFT_HEATMAP"),
    ]
    if coco:
        rows += [("test.train_val_boxes", "gt", "YAML TEST.USE_GT_BBOX: true"),
                 ("test.oks_thr", 0.9, "YAML TEST.OKS_THRE"), ("test.vis_thr", 0.2, "YAML TEST.IN_VIS_THRE"),
                 ("test.image_thr", 0.0, "YAML TEST.IMAGE_THRE"),
                 ("data.val.det_file", "person_detection_results/COCO_val2017_detections_AP_H_56_person.json",
                  "YAML TEST.COCO_BBOX_FILE")]
    else:  # MPII: its annotated people, PCKh against the benchmark's .mat
        rows += [("data.format", "mpii", "YAML DATASET.DATASET mpii (lib/dataset/mpii.py)"),
                 ("model.num_joints", 16, "YAML MODEL.NUM_JOINTS"),
                 ("data.train.ann_file", "annot/train.json", "lib/dataset/mpii.py _get_db: annot/{TRAIN_SET}.json"),
                 ("data.val.ann_file", "annot/valid.json", "lib/dataset/mpii.py _get_db: annot/{TEST_SET}.json"),
                 ("data.val.gt_file", "annot/gt_valid.mat", "lib/dataset/mpii.py evaluate: annot/gt_{TEST_SET}.mat")]
    return f"{POSE_REPO} {yaml}", rows


# What the official segmentation YAMLs set per dataset (HRNet-OCR branch, experiments/<dataset>/):
# images per GPU, crop (H, W), BASE_SIZE, LR, WD, END_EPOCH, NONBACKBONE_MULT (1: no NONBACKBONE_KEYWORDS)
_SEG_YAML = {"cityscapes": (3, [512, 1024], 2048, 0.01, 5e-4, 484, 1.0),
             "pascal": (4, [520, 520], 520, 1e-3, 1e-4, 200, 10.0),
             "ade20k": (4, [520, 520], 520, 0.02, 1e-4, 120, 1.0),
             "cocostuff": (4, [520, 520], 520, 1e-3, 1e-4, 110, 10.0)}
_SHORT_SIDE = tuple(SHORT_SIDE_STRIDE)  # ade20k, cocostuff: their testval resizes the short side first


def _seg_yaml(dataset: str, name: str, classes: int, ohem: bool) -> str:
    if dataset == "cityscapes":
        return (f"experiments/cityscapes/{name}_train{'_ohem' if ohem else ''}"
                "_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml")
    if dataset in _SHORT_SIDE:  # the published files: OHEM (README)
        lr, epochs = ("2e-2", 120) if dataset == "ade20k" else ("1e-3", 110)
        return f"experiments/{dataset}/{name}_520x520_ohem_sgd_lr{lr}_wd1e-4_bs_16_epoch{epochs}.yaml"
    cls = classes if name.endswith("ocr_w48") else 59  # the W48 60-class run: the 59-class YAML with 60 classes
    return f"experiments/pascal_ctx/{name}_cls{cls}_520x520_sgd_lr1e-3_wd1e-4_bs_16_epoch200.yaml" + (
        " with DATASET.NUM_CLASSES 60" if cls != classes else "")


def _seg(dataset: str, ocr: bool, classes: int, ohem: bool = False) -> tuple[str, list[Row]]:
    city, short = dataset == "cityscapes", dataset in _SHORT_SIDE
    name = "seg_hrnet_ocr_w48" if ocr else "seg_hrnet_w48"
    batch, crop, base, lr, wd, epochs, head_mult = _SEG_YAML[dataset]
    scale_factor = 11 if dataset == "ade20k" and not ocr else 16
    align = ("lib/config/default.py MODEL.ALIGN_CORNERS True" + (" (the YAML leaves it)" if short else "")
             if ocr or short else "YAML MODEL.ALIGN_CORNERS False" if city else "W48 YAMLs of the repository: False")
    rows: list[Row] = [
        ("model.name", "seg_hrnetv2_ocr_w48" if ocr else "seg_hrnetv2_w48", f"YAML MODEL.NAME {name[:-4]}, STAGE*"),
        ("model.num_classes", classes, "YAML DATASET.NUM_CLASSES"),
        ("model.align_corners", ocr or short,
         align + "; the test's final resize too (lib/datasets/base_dataset.py inference; hrseg: "
         "test.align_corners None)"),
        ("data.crop_size", crop, f"YAML TRAIN.IMAGE_SIZE [{crop[1]}, {crop[0]}] (W, H)"),
        ("data.base_size", base, "YAML TRAIN.BASE_SIZE"),
        ("data.scale_range", [0.5, 0.5 + scale_factor / 10],
         f"lib/datasets/base_dataset.py gen_sample: 0.5 + random.randint(0, {scale_factor}) / 10"
         + (" (YAML TRAIN.SCALE_FACTOR)" if short else "")),
        ("data.scale_step", 0.1, f"same line (randint includes {scale_factor}: {scale_factor + 1} scales)"),
        ("data.pad_value", [0, 0, 0], "lib/datasets/base_dataset.py rand_crop: pad with (0, 0, 0)"),
        ("data.flip", True, "YAML TRAIN.FLIP"),
        ("data.batch_size", batch, "YAML TRAIN.BATCH_SIZE_PER_GPU"),
        ("optimizer.reference_batch", 4 * batch, "YAML GPUS (0,1,2,3) x TRAIN.BATCH_SIZE_PER_GPU"),
        ("optimizer.type", "SGD", "YAML TRAIN.OPTIMIZER sgd"),
        ("optimizer.lr", lr, "YAML TRAIN.LR"),
        ("optimizer.momentum", 0.9, "YAML TRAIN.MOMENTUM"),
        ("optimizer.weight_decay", wd, "YAML TRAIN.WD"),
        ("optimizer.nesterov", False, "YAML TRAIN.NESTEROV"),
        ("optimizer.head_lr_mult", head_mult, "YAML TRAIN.NONBACKBONE_KEYWORDS (none: one group)" if head_mult == 1.0
         else "YAML TRAIN.NONBACKBONE_MULT 10 on NONBACKBONE_KEYWORDS (all outside the backbone)"),
        ("schedule.type", "poly", "lib/utils/utils.py adjust_learning_rate, every iteration"),
        ("schedule.power", 0.9, "tools/train.py / lib/core/function.py: adjust_learning_rate(..., 0.9 power)"),
        ("schedule.set_after_step", True, SET_AFTER_STEP),
        ("train.max_epochs", epochs, "YAML TRAIN.END_EPOCH"),
        ("train.sync_bn", True, "lib/models/bn_helper.py: BatchNorm2d = nn.SyncBatchNorm (4 processes)"),
        ("loss.ohem", ohem, "YAML LOSS.USE_OHEM"),
        ("loss.ohem_thresh", 0.9, "YAML LOSS.OHEMTHRES"),
        ("loss.ohem_min_kept", 131072, "YAML LOSS.OHEMKEEP"),
        ("test.base_size", base, "YAML TEST.BASE_SIZE"),
        ("test.crop_size", [1024, 2048] if city else [520, 520], "YAML TEST.IMAGE_SIZE (W, H)"),
    ]
    if ocr:
        rows.append(("loss.aux_weight", 0.4, "YAML LOSS.BALANCE_WEIGHTS [0.4, 1] (aux, main)"))
    if city:
        rows += [("loss.class_weight", [0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023,
                                        0.9539, 0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507],
                  "lib/datasets/cityscapes.py class_weights"),
                 ("test.scales", [1.0], "YAML TEST.MULTI_SCALE false (SCALE_LIST [1])"),
                 ("test.flip", False, "YAML TEST.FLIP_TEST false")]
    else:
        shown = {"pascal": "PASCAL-Context", "ade20k": "ADE20K", "cocostuff": "COCO-Stuff"}[dataset]
        rows += [("test.protocol", "official_ms", f"README: evaluation of the published {shown} numbers"),
                 ("test.scales", [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0], "README: TEST.SCALE_LIST 0.5,...,2.0"),
                 ("test.flip", True, "README: TEST.FLIP_TEST True")]
    if short:
        rows.append(("test.protocol_dataset", dataset, f"README: DATASET.TEST_SET list/{dataset}/testval.lst "
                     f"(lib/datasets/{dataset}.py testval: short side 520, padded to a multiple of 8)"))
    return f"{SEG_REPO} {_seg_yaml(dataset, name, classes, ohem)}", rows


def _lip(ocr: bool) -> tuple[str, list[Row]]:
    name = "seg_hrnet_ocr_w48" if ocr else "seg_hrnet_w48"
    yaml = f"experiments/lip/{name}_473x473_sgd_lr7e-3_wd5e-4_bs_40_epoch150.yaml"
    rows: list[Row] = [
        ("model.name", "seg_hrnetv2_ocr_w48" if ocr else "seg_hrnetv2_w48", f"YAML MODEL.NAME {name[:-4]}, STAGE*"),
        ("model.num_classes", 20, "YAML DATASET.NUM_CLASSES"),
        ("model.align_corners", ocr, ("lib/config/default.py MODEL.ALIGN_CORNERS True (the YAML leaves it)" if ocr
                                      else "YAML MODEL.ALIGN_CORNERS False") + "; the test's resizes too"),
        ("data.crop_size", [473, 473], "YAML TRAIN.IMAGE_SIZE [473, 473]"),
        ("data.base_size", 473, "YAML TRAIN.BASE_SIZE"),
        ("data.squash", True, "lib/datasets/lip.py __getitem__: flip, then resize_image(image, label, crop_size)"),
        ("data.scale_range", [0.5, 1.6], "lib/datasets/base_dataset.py gen_sample: 0.5 + random.randint(0, "
         "scale_factor) / 10, YAML TRAIN.SCALE_FACTOR 11"),
        ("data.scale_step", 0.1, "same line (randint includes 11: 12 scales)"),
        ("data.pad_value", [0, 0, 0], "lib/datasets/base_dataset.py rand_crop: pad with (0, 0, 0)"),
        ("data.flip", True, "YAML TRAIN.FLIP; lib/datasets/lip.py swaps 14/15, 16/17, 18/19 on the flip"),
        ("data.photometric", False, "lib/config/default.py TRAIN.RANDOM_BRIGHTNESS False"),
        ("data.batch_size", 10, "YAML TRAIN.BATCH_SIZE_PER_GPU"),
        ("optimizer.reference_batch", 40, "YAML GPUS (0,1,2,3) x TRAIN.BATCH_SIZE_PER_GPU"),
        ("optimizer.type", "SGD", "YAML TRAIN.OPTIMIZER sgd"),
        ("optimizer.lr", 7e-3, "YAML TRAIN.LR"),
        ("optimizer.momentum", 0.9, "YAML TRAIN.MOMENTUM"),
        ("optimizer.weight_decay", 5e-4, "YAML TRAIN.WD"),
        ("optimizer.nesterov", False, "YAML TRAIN.NESTEROV"),
        ("optimizer.head_lr_mult", 1.0, "YAML TRAIN.NONBACKBONE_KEYWORDS (none: one group)"),
        ("schedule.type", "poly", "lib/utils/utils.py adjust_learning_rate, every iteration"),
        ("schedule.power", 0.9, "lib/core/function.py: adjust_learning_rate(..., 0.9 power)"),
        ("schedule.set_after_step", True, SET_AFTER_STEP),
        ("train.max_epochs", 150, "YAML TRAIN.END_EPOCH"),
        ("train.sync_bn", True, "lib/models/bn_helper.py: BatchNorm2d = nn.SyncBatchNorm (4 processes)"),
        ("loss.ohem", False, "YAML LOSS.USE_OHEM"),
        ("loss.class_weight", None, "lib/datasets/lip.py class_weights = None"),
        ("test.protocol", "official", "README: the LIP evaluation command (tools/test.py)"),
        ("test.protocol_dataset", "lip", "README: DATASET.TEST_SET list/lip/testvalList.txt (lip.py testval: "
         "the image squashed to the crop; lip.py inference: flip with the sides swapped, exp; resized back)"),
        ("test.base_size", 473, "YAML TEST.BASE_SIZE"),
        ("test.crop_size", [473, 473], "YAML TEST.IMAGE_SIZE"),
        ("test.scales", [1.0], "lib/config/default.py TEST.SCALE_LIST [1] (README: multi-scale No)"),
        ("test.flip", True, "README: TEST.FLIP_TEST True"),
    ]
    if ocr:
        rows.append(("loss.aux_weight", 0.4, "YAML LOSS.BALANCE_WEIGHTS [0.4, 1] (aux, main)"))
    return f"{SEG_REPO} {yaml}", rows


def _det(width: int, fcos: bool = False) -> tuple[str, list[Row]]:
    if fcos:
        where = (f"{MMDET} configs/hrnet/fcos_hrnetv2p_w{width}_gn-head_4x4_1x_coco.py and its bases "
                 "fcos_r50_caffe_fpn_gn-head_1x_coco.py (CFG), _base_/schedules/schedule_1x.py")
        model = [("model.name", f"det_fcos_hrnetv2p_w{width}", "HRNet backbone + HRFPN(stride=2) + FCOSHead"),
                 ("model.head_type", "mmdetection", "CFG bbox_head FCOSHead: center_sampling, norm_on_bbox, "
                  "centerness_on_reg False; FocalLoss, IoULoss, CrossEntropyLoss(use_sigmoid)"),
                 ("model.topk_candidates", 1000, "CFG test_cfg.nms_pre"),
                 ("model.score_thresh", 0.05, "CFG test_cfg.score_thr"),
                 ("model.nms_thresh", 0.5, "CFG test_cfg.nms.iou_threshold"),
                 ("model.detections_per_img", 100, "CFG test_cfg.max_per_img")]
        batch, lr = 4, 0.01
    else:
        where = f"{DET_REPO} configs/hrnet/faster_rcnn_hrnetv2p_w{width}_1x.py (CFG)"
        model = [("model.name", f"det_fasterrcnn_hrnetv2p_w{width}", "CFG backbone HRNet + neck HRFPN"),
                 ("model.anchor_scale", 8, "CFG rpn_head.anchor_scales [8]"),
                 ("model.aspect_ratios", [0.5, 1.0, 2.0], "CFG rpn_head.anchor_ratios"),
                 ("model.representation_size", 1024, "CFG bbox_head.fc_out_channels"),
                 ("model.sampling_ratio", 2, "CFG roi_layer sample_num"),
                 ("model.rpn_pre_nms_top_n_test", 2000, "CFG test_cfg.rpn.nms_pre"),
                 ("model.rpn_post_nms_top_n_test", 2000, "CFG test_cfg.rpn.max_num"),
                 ("model.rpn_nms_thresh", 0.7, "CFG test_cfg.rpn.nms_thr"),
                 ("model.box_score_thresh", 0.05, "CFG test_cfg.rcnn.score_thr"),
                 ("model.box_nms_thresh", 0.5, "CFG test_cfg.rcnn.nms.iou_thr"),
                 ("model.box_detections_per_img", 100, "CFG test_cfg.rcnn.max_per_img"),
                 ("model.box_loss_beta", 1.0, "mmdet 1.x BBoxHead.loss: weighted_smoothl1, beta 1.0 (the RPN's: "
                  "CFG train_cfg.rpn.smoothl1_beta 1/9, torchvision's)")]
        batch, lr = 2, 0.02
    paramwise = "CFG optimizer.paramwise_cfg" if fcos else "CFG optimizer: no paramwise_options"
    rows: list[Row] = model + [
        ("model.min_size", 800, "CFG img_scale (1333, 800)"),
        ("model.max_size", 1333, "CFG img_scale (1333, 800)"),
        ("model.norm_eval", True, "mmdet HRNet backbone: norm_eval=True (default)"),
        ("data.batch_size", batch, "CFG imgs_per_gpu" if not fcos else "CFG 4x4: samples_per_gpu 4"),
        ("data.augment.flip_prob", 0.5, "CFG flip_ratio 0.5"),
        ("optimizer.reference_batch", 16, "8 GPUs x 2 (CFG: 'if you use 8 GPUs ... lr 0.02')" if not fcos
         else "4 GPUs x 4 (the config's name)"),
        ("optimizer.type", "SGD", "CFG optimizer"),
        ("optimizer.lr", lr, "CFG optimizer.lr"),
        ("optimizer.momentum", 0.9, "CFG optimizer.momentum"),
        ("optimizer.weight_decay", 1e-4, "CFG optimizer.weight_decay"),
        ("optimizer.bias_lr_mult", 2.0 if fcos else 1.0,
         paramwise + (" (mmcv DefaultOptimizerConstructor)" if fcos else "")),
        ("optimizer.bias_decay_mult", 0.0 if fcos else 1.0, paramwise),
        ("schedule.type", "multistep", "CFG lr_config policy step"),
        ("schedule.milestones", [8, 11], "CFG lr_config.step"),
        ("schedule.step_at_start", False, "mmcv StepLrUpdaterHook: epoch e at gamma ** #(steps <= e)"),
        ("schedule.warmup_iters", 500, "CFG lr_config.warmup_iters"),
        ("schedule.warmup_ratio", 1.0 / 3, "CFG lr_config.warmup_ratio"),
        ("schedule.warmup", "constant" if fcos else "linear", "CFG lr_config.warmup"),
        ("train.max_epochs", 12, "CFG total_epochs / runner.max_epochs"),
        ("train.grad_clip", 35.0, "CFG optimizer_config.grad_clip.max_norm"),
    ]
    return where, rows


def _multi(width: int) -> tuple[str, list[Row]]:
    """The Mask R-CNN 1x recipe (boxes, masks) with torchvision's Keypoint R-CNN branch on the same RoIs."""
    where, rows = _det(width)
    rename = {"model.name": ("model.name", f"multi_hrnetv2p_w{width}", "mask_rcnn_hrnetv2p_w32_1x_coco.py (CFG) "
                             "+ keypoint branch"),
              "data.augment.flip_prob": ("data.flip_prob", 0.5, "CFG flip_ratio 0.5")}
    rows = [rename.get(r[0], r) for r in rows] + [
        ("model.keypoint_convs", 8, "torchvision keypointrcnn_resnet50_fpn: KeypointRCNNHeads, 8 convs"),
        ("model.keypoint_channels", 512, "torchvision KeypointRCNNHeads: 512 channels"),
        ("model.keypoint_roi_size", 14, "torchvision keypoint_roi_pool: MultiScaleRoIAlign output 14"),
        ("model.seg_classes", 0, "COCO has no semantic label maps: no segmentation head"),
        ("model.mask_targets", "mmdet1", "mmdet/core/mask/mask_target.py mask_target_single: each positive RoI's "
         "integer crop of its ground-truth mask resized to 28x28 (mmcv.imresize)"),
    ]
    return (f"{where.replace('faster_rcnn', 'mask_rcnn')}; torchvision keypoint_rcnn.py (the keypoint branch)", rows)


# recipe name -> (task, config file under configs/, (official files, rows))
OFFICIAL: dict[str, tuple[str, str, tuple[str, list[Row]]]] = {
    "pose W32 256x192": ("pose", "pose/hrnet_w32_coco_256x192.py", _pose(32, (256, 192), 2, 32)),
    "pose W32 384x288": ("pose", "pose/hrnet_w32_coco_384x288.py", _pose(32, (384, 288), 3, 32)),
    "pose W48 256x192": ("pose", "pose/hrnet_w48_coco_256x192.py", _pose(48, (256, 192), 2, 32)),
    "pose W48 384x288": ("pose", "pose/hrnet_w48_coco_384x288.py", _pose(48, (384, 288), 3, 24)),
    "pose W32 MPII 256x256": ("pose", "pose/hrnet_w32_mpii_256x256.py", _pose(32, (256, 256), 2, 32, "mpii")),
    "pose W48 MPII 256x256": ("pose", "pose/hrnet_w48_mpii_256x256.py", _pose(48, (256, 256), 2, 32, "mpii")),
    "Cityscapes W48": ("seg", "seg/hrnetv2_w48_cityscapes_1024x512.py", _seg("cityscapes", False, 19)),
    "Cityscapes W48 OHEM": ("seg", "seg/hrnetv2_w48_cityscapes_1024x512_ohem.py", _seg("cityscapes", False, 19, True)),
    "Cityscapes W48 + OCR": ("seg", "seg/ocr_hrnetv2_w48_cityscapes_1024x512.py", _seg("cityscapes", True, 19)),
    "PASCAL-Context 59 W48": ("seg", "seg/hrnetv2_w48_pascal_context59_520x520.py", _seg("pascal", False, 59)),
    "PASCAL-Context 60 W48": ("seg", "seg/hrnetv2_w48_pascal_context60_520x520.py", _seg("pascal", False, 60)),
    "PASCAL-Context 59 W48 + OCR": ("seg", "seg/ocr_hrnetv2_w48_pascal_context59_520x520.py", _seg("pascal", True, 59)),
    "PASCAL-Context 60 W48 + OCR": ("seg", "seg/ocr_hrnetv2_w48_pascal_context60_520x520.py", _seg("pascal", True, 60)),
    "ADE20K W48 OHEM": ("seg", "seg/hrnetv2_w48_ade20k_520x520_ohem.py", _seg("ade20k", False, 150, True)),
    "ADE20K W48 + OCR OHEM": ("seg", "seg/ocr_hrnetv2_w48_ade20k_520x520_ohem.py", _seg("ade20k", True, 150, True)),
    "COCO-Stuff W48 OHEM": ("seg", "seg/hrnetv2_w48_cocostuff_520x520_ohem.py", _seg("cocostuff", False, 171, True)),
    "COCO-Stuff W48 + OCR OHEM": ("seg", "seg/ocr_hrnetv2_w48_cocostuff_520x520_ohem.py",
                                  _seg("cocostuff", True, 171, True)),
    "LIP W48": ("seg", "seg/hrnetv2_w48_lip_473x473.py", _lip(False)),
    "LIP W48 + OCR": ("seg", "seg/ocr_hrnetv2_w48_lip_473x473.py", _lip(True)),
    "Faster R-CNN W18": ("det", "det/faster_rcnn_hrnetv2p_w18_1x_coco.py", _det(18)),
    "Faster R-CNN W32": ("det", "det/faster_rcnn_hrnetv2p_w32_1x_coco.py", _det(32)),
    "FCOS W32": ("det", "det/fcos_hrnetv2p_w32_1x_coco.py", _det(32, fcos=True)),
    "Multi-task W32 (Mask R-CNN 1x + keypoints)": ("multi", "multi/multi_hrnetv2p_w32_1x_coco.py", _multi(32)),
    **MMDET_RECIPES,
    **MMSEG_RECIPES,
}

def _short_side_notes(dataset: str) -> list[tuple[str, str, str]]:
    """ADE20K's and COCO-Stuff's: their training resizes the short side first, their validation crops."""
    return [("training: resize_short_length(520) before gen_sample", "gen_sample's resize alone",
             "gen_sample sets the long side to 520 x scale whatever came before: the two differ only by rounding"),
            (f"validation during training (lib/core/function.py validate): list/{dataset}/val.lst, one random "
             "520x520 crop of the short-side-520 image, the first TEST.NUM_SAMPLES 200 images",
             "the published testval protocol (test.*) on the whole val split",
             "the validation only picks best.pth; the published numbers are testval's")]


# What a config field cannot say: (official, hrseg, why), per task, recipe name (its start) or source repository.
_MPII_NOTES = [("evaluate: 'Mean@0.1' is row 11 of np.arange(0, 0.51, 0.01), a threshold of 0.11",
                "PCKh@0.11 (and mmpose's PCKh@0.1 at 0.10)", "same")]
NOT_IN_CONFIG: dict[str, list[tuple[str, str, str]]] = {
    "pose W32 MPII": _MPII_NOTES,
    "pose W48 MPII": _MPII_NOTES,
    SEG_REPO: [
        ("test: the normalised float image is resized", "the uint8 image is resized, then normalised",
         "keeps a large photograph in uint8 memory; pixel differences below 1/255 (tests/test_seg_protocols.py "
         "checks the protocol against the official code otherwise exactly)"),
        ("head init: seg_hrnet N(0, 0.001) conv weights; seg_hrnet_ocr skips 'cls'/'aux'/'ocr' modules "
         "(PyTorch default)", "the same (hrseg/models/segmentation.py init_head, ocr.py)", "same"),
    ],
    "LIP": [
        ("validation during training (lib/core/function.py validate): DATASET.TEST_SET list/lip/valList.txt, "
         "labels squashed to 473x473 too, no flip, the first TEST.NUM_SAMPLES 2000 images",
         "the published testval protocol (test.*) on the whole val split",
         "the validation only picks best.pth; the published numbers are testval's"),
    ],
    "ADE20K": _short_side_notes("ade20k"),
    "COCO-Stuff": _short_side_notes("cocostuff"),
    **MMDET_NOTES,
    "Multi-task W32 (Mask R-CNN 1x + keypoints)": [
        ("no keypoint branch in mmdetection's HRNet configs", "torchvision's Keypoint R-CNN branch on the same RoIs",
         "the keypoint head and its loss are torchvision's (docs/multitask.md)"),
    ],
    MMSEG_REPO: MMSEG_NOTES,
    "FCOS W32": [
        ("input: BGR (img_norm_cfg to_rgb=False), ImageNet's mean / std in BGR order", "RGB, ImageNet mean / std",
         "the same normalisation in the other channel order: the ImageNet HRNet weights are RGB; mmdetection's "
         "files load with the first convolution's input channels reversed (hrseg.weights.mmdet.convert_fcos)"),
    ],
}
