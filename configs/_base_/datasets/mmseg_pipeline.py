# mmsegmentation 0.x's training pipeline, the same in each of its dataset files: Resize keep_ratio with ratio_range
# (0.5, 2.0) (a uniform draw; the box's sides int(side x ratio): data.base_size / data.short_size, set per
# dataset), RandomCrop with cat_max_ratio 0.75, RandomFlip 0.5, PhotoMetricDistortion, Normalize, then Pad to the
# crop (pad_val 0 after normalising: the mean colour; labels 255).
data = dict(scale_range=[0.5, 2.0], scale_step=None, pad_value=None, flip=True, photometric=True, cat_max_ratio=0.75)
