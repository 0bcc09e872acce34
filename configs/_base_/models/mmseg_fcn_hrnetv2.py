# mmsegmentation 0.x's FCN-HRNetV2 (its configs/_base_/models/fcn_hr18.py), the model of every recipe in
# configs/seg/mmseg/: hrseg's HRNetV2 segmentation model (align_corners=False, as mmsegmentation trains) with
# mmsegmentation's head initialisation (ConvModule kaiming fan_out, conv_seg N(0, 0.01), zero biases).
_base_ = ["./seg_hrnetv2.py"]
model = dict(head_init="mmseg")
