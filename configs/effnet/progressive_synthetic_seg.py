# Progressive learning on the synthetic street scenes (tools/progressive_experiment.py --task seg):
# the segmentation mini-split's recipe with three stages of crops 64x128 -> 96x192 -> 128x256
# (multiples of 32) and dropout before the head, RandAugment and Mixup growing alongside.
_base_ = ["../seg/synthetic_mini.py"]
work_dir = "work_dirs/progressive_seg"
progressive = dict(enabled=True, num_stages=3, min_scale=0.5, size_divisor=32,
                   dropout=[0.0, 0.1], randaugment=[0, 9], randaugment_ops=2, mixup=[0.0, 0.2])
