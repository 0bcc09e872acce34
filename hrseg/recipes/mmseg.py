"""mmsegmentation 0.x's FCN- and OCRNet-HRNetV2 recipes, field by field (the files its published HRNet weights
were trained with): ``configs/hrnet/fcn_hr*.py`` and ``configs/ocrnet/ocrnet_hr*.py`` over
``configs/_base_/models/{fcn,ocrnet}_hr18.py``, the dataset's ``configs/_base_/datasets/*.py`` and
``schedules/schedule_*k.py`` (v0.30.0). Data only, as :mod:`hrseg.recipes.official`.
"""
from __future__ import annotations

from typing import Any

MMSEG_REPO = "open-mmlab/mmsegmentation 0.x (v0.30.0)"
# dataset -> (config word, crop (H, W), Resize img_scale (long, short), samples_per_gpu, dataset file, classes,
#             test (mode, crop, stride))
_DATA: dict[str, tuple[str, list[int], tuple[int, int], int, str, int, tuple[Any, ...]]] = {
    "cityscapes": ("512x1024", [512, 1024], (2048, 1024), 2, "cityscapes.py", 19, ("whole", None, None)),
    "ade20k": ("512x512", [512, 512], (2048, 512), 4, "ade20k.py", 150, ("whole", None, None)),
    "voc12aug": ("512x512", [512, 512], (2048, 512), 4, "pascal_voc12.py", 21, ("whole", None, None)),
    "pascal_context_59": ("480x480", [480, 480], (520, 520), 4, "pascal_context_59.py", 59,
                          ("slide", [480, 480], [320, 320])),
}
# mmsegmentation's backbone word -> (hrseg model, ImageNet file, what its config changes in fcn_hr18.py)
_BACKBONES = {"48": ("seg_hrnetv2_w48", "hrnet_w48", "HRNet extra channels (48, 96, 192, 384)"),
              "18": ("seg_hrnetv2_w18", "hrnet_w18", "HRNet W18 (models/fcn_hr18.py as it is)"),
              "18s": ("seg_hrnetv2_w18_small_v2", "hrnet_w18_small_v2", "HR18-Small: stage1 num_blocks (2,), stage2 "
                      "(2, 2), stage3 3 modules of (2, 2, 2), stage4 2 modules of (2, 2, 2, 2): W18-Small-v2")}
Row = tuple[str, Any, str]


def mmseg_recipe(dataset: str, iters: int, backbone: str = "48", ocr: bool = False) -> tuple[str, list[Row]]:
    """The rows of ``configs/hrnet/fcn_hr{backbone}_{crop}_{iters}k_{dataset}.py`` (``ocr``:
    ``configs/ocrnet/ocrnet_hr...``)."""
    word, crop, (long, short), per_gpu, data_file, classes, (mode, window, stride) = _DATA[dataset]
    model, imagenet, layout = _BACKBONES[backbone]
    kind = "ocrnet" if ocr else "fcn"
    config = f"configs/{'ocrnet' if ocr else 'hrnet'}/{kind}_hr{backbone}_{word}_{iters // 1000}k_{dataset}.py"
    data, sched = f"_base_/datasets/{data_file}", f"_base_/schedules/schedule_{iters // 1000}k.py"
    base = f"_base_/models/{kind}_hr18.py"
    context = dataset.startswith("pascal_context")
    head = ("CascadeEncoderDecoder: FCNHead (auxiliary) then OCRHead (bottleneck conv3x3, SpatialGatherModule, "
            "ObjectAttentionBlock, conv_seg)" if ocr else "FCNHead num_convs 1, kernel_size 1, concat_input False, "
            "input_transform resize_concat (conv1x1, SyncBN, ReLU, conv_seg)")
    rows: list[Row] = [
        ("model.name", model.replace("seg_hrnetv2_", "seg_hrnetv2_ocr_") if ocr else model,
         f"{config}: {layout}; {head}"),
        ("model.num_classes", classes, f"{config} decode_head num_classes"),
        ("model.align_corners", False, f"{base} decode_head align_corners=False"),
        ("model.head_init", "mmseg", "ConvModule's kaiming_init (normal, fan_out) for every conv, norm 1 / 0; "
         "BaseDecodeHead init_cfg Normal std 0.01 for conv_seg"),
        ("model.pretrained", f"{imagenet}.msra_imagenet_v2",
         f"{config} pretrained open-mmlab://msra/hrnetv2_w{backbone.replace('s', '_small')}"),
        ("data.crop_size", crop, f"{data} crop_size (H, W)"),
        ("data.base_size", long, f"{data} Resize img_scale {(long, short)} keep_ratio: the box's long side"),
        ("data.short_size", short, "same: the box's short side"),
        ("data.scale_range", [0.5, 2.0], f"{data} Resize ratio_range=(0.5, 2.0)"),
        ("data.scale_step", None, "mmseg/datasets/pipelines/transforms.py Resize.random_sample_ratio: uniform"),
        ("data.cat_max_ratio", 0.75, f"{data} RandomCrop cat_max_ratio=0.75"),
        ("data.flip", True, f"{data} RandomFlip prob=0.5"),
        ("data.photometric", True, f"{data} PhotoMetricDistortion"),
        ("data.pad_value", None, f"{data} Pad pad_val=0 after Normalize: the mean colour; seg_pad_val=255"),
        ("data.batch_size", per_gpu, f"{data} data.samples_per_gpu"),
        ("optimizer.reference_batch", 4 * per_gpu, "configs/hrnet/README.md: 4 GPUs x samples_per_gpu"),
        ("optimizer.type", "SGD", f"{sched} optimizer"),
        ("optimizer.lr", 0.004 if context else 0.01, f"{config} optimizer lr" if context else f"{sched} optimizer lr"),
        ("optimizer.momentum", 0.9, f"{sched} optimizer momentum"),
        ("optimizer.weight_decay", 1e-4 if context else 5e-4,
         f"{config} optimizer weight_decay" if context else f"{sched} optimizer weight_decay"),
        ("optimizer.nesterov", False, "mmcv SGD default"),
        ("optimizer.head_lr_mult", 1.0, "no paramwise_cfg"),
        ("schedule.type", "poly", f"{sched} lr_config policy='poly'"),
        ("schedule.power", 0.9, f"{sched} lr_config power"),
        ("schedule.min_lr", 1e-4, f"{sched} lr_config min_lr"),
        ("schedule.by_epoch", False, f"{sched} lr_config by_epoch=False"),
        ("schedule.set_after_step", False, "mmcv PolyLrUpdaterHook.before_train_iter: iteration i's lr set before it"),
        ("schedule.warmup_iters", 0, f"{sched}: no warmup"),
        ("train.max_iters", iters, f"{sched} runner IterBasedRunner max_iters"),
        ("train.sync_bn", True, f"{base} norm_cfg SyncBN"),
        ("train.grad_clip", None, f"{sched} optimizer_config = dict()"),
        ("loss.ohem", False, f"{base} decode_head: no sampler"),
        ("loss.class_weight", None, f"{base} loss_decode CrossEntropyLoss: no class_weight"),
        ("loss.avg_non_ignore", False,
         "mmseg/models/losses/cross_entropy_loss.py CrossEntropyLoss avg_non_ignore=False"),
        ("test.mode", mode, f"{config} test_cfg mode" if window else f"{base} test_cfg mode='whole'"),
        ("test.base_size", long, f"{data} test_pipeline MultiScaleFlipAug img_scale, keep_ratio"),
        ("test.short_size", short, "same"),
        ("test.scales", [1.0], f"{data} test_pipeline: one scale"),
        ("test.flip", False, f"{data} test_pipeline flip=False"),
    ]
    if dataset == "voc12aug":
        rows.append(("data.train_split", "train+aug", "_base_/datasets/pascal_voc12_aug.py: train.txt "
                     "(SegmentationClass) + aug.txt (SegmentationClassAug; tools/convert_datasets/voc_aug.py writes it "
                     "without VOC's train and val ids): each image once"))
    if window:
        rows += [("test.crop_size", window, f"{config} test_cfg crop_size"),
                 ("test.stride", stride, f"{config} test_cfg stride")]
    if ocr:
        rows += [("model.mid_channels", 512, f"{base} OCRHead channels=512"),
                 ("model.key_channels", 256, f"{base} OCRHead ocr_channels=256"),
                 ("model.dropout", 0.0, f"{base} dropout_ratio=-1 (both heads): no dropout"),
                 ("loss.aux_weight", 0.4, f"{base} FCNHead loss_decode loss_weight=0.4 (OCRHead 1.0)")]
    return f"{MMSEG_REPO} {config}", rows


# What a config field cannot say: (mmsegmentation, hrseg, why), for every recipe above.
NOTES: list[tuple[str, str, str]] = [
    ("evaluation / checkpoint_config: every 4,000 to 16,000 iterations (schedule_*k.py interval)",
     "at the end of every train.eval_interval epochs (the recipe's: the nearest whole number of epochs) and "
     "of the last; latest.pth every epoch", "hrseg evaluates and saves at epoch ends, so a resumed run is exact; the "
     "validation only picks best.pth"),
    ("train loader: drop_last=True (mmseg/apis/train.py), a new shuffle each epoch of IterLoader",
     "the same (build_dataloader drops the last batch; an epoch's order from (seed, epoch))", "same"),
    ("RandomCrop (up to 10 tries for cat_max_ratio), then Pad to the crop after Normalize",
     "pad (ignored labels, the mean colour), then crop: the same crops and counts", "same"),
    ("PhotoMetricDistortion: numpy's global random, BGR through mmcv.bgr2hsv",
     "hrseg.data.seg.transforms.photometric_distortion: the same steps, draws and rounding from the sample's "
     "generator, RGB through cv2's RGB2HSV (the same HSV)", "same"),
    ("decode heads: their ConvModules have no bias (a SyncBN follows)",
     "the official heads' conv biases (the conv1x1s; OCR's conv3x3), zero under model.head_init='mmseg' and kept "
     "there (BatchNorm cancels their gradient): the same function", "same"),
    ("OCRNet: ObjectAttentionBlock (SelfAttentionBlock: 2 + 2 query / key ConvModules, 1 value, 1 out, matmul_norm "
     "channels ** -0.5, then its bottleneck on [context, feats]); SpatialGatherModule softmax at scale 1",
     "the official OCR modules (hrseg.models.ocr): the same layers, scaling and order; mmsegmentation's files load "
     "into them key for key (hrseg.weights.layouts)", "same"),
]


# recipe name -> (task, config under configs/, (mmsegmentation files, rows)), merged into official.OFFICIAL
MMSEG_RECIPES: dict[str, tuple[str, str, tuple[str, list[Row]]]] = {
    "mmseg FCN W48 Cityscapes 160k": ("seg", "seg/mmseg/fcn_hr48_512x1024_160k_cityscapes.py",
                                      mmseg_recipe("cityscapes", 160000)),
    "mmseg FCN W18 Cityscapes 160k": ("seg", "seg/mmseg/fcn_hr18_512x1024_160k_cityscapes.py",
                                      mmseg_recipe("cityscapes", 160000, "18")),
    "mmseg FCN W18-Small Cityscapes 160k": ("seg", "seg/mmseg/fcn_hr18s_512x1024_160k_cityscapes.py",
                                            mmseg_recipe("cityscapes", 160000, "18s")),
    "mmseg OCRNet W48 Cityscapes 160k": ("seg", "seg/mmseg/ocrnet_hr48_512x1024_160k_cityscapes.py",
                                         mmseg_recipe("cityscapes", 160000, ocr=True)),
    "mmseg FCN W48 ADE20K 160k": ("seg", "seg/mmseg/fcn_hr48_512x512_160k_ade20k.py", mmseg_recipe("ade20k", 160000)),
    "mmseg OCRNet W48 ADE20K 160k": ("seg", "seg/mmseg/ocrnet_hr48_512x512_160k_ade20k.py",
                                     mmseg_recipe("ade20k", 160000, ocr=True)),
    "mmseg FCN W48 VOC 2012 aug 40k": ("seg", "seg/mmseg/fcn_hr48_512x512_40k_voc12aug.py",
                                       mmseg_recipe("voc12aug", 40000)),
    "mmseg FCN W48 PASCAL-Context 59 80k": ("seg", "seg/mmseg/fcn_hr48_480x480_80k_pascal_context_59.py",
                                            mmseg_recipe("pascal_context_59", 80000)),
}
