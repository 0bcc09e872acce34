# Mask R-CNN HRNetV2p (mmdetection configs/hrnet/mask_rcnn_hrnetv2p_w32_1x_coco.py, as the official
# HRNet detection code): the Faster R-CNN HRNetV2p detector of faster_rcnn_hrnetv2p.py plus a mask
# branch: RoIAlign 14x14 (sampling ratio 2) over the stride 4-32 levels, four 3x3 convs of 256
# channels, 2x deconvolution, one 28x28 mask per class.
_base_ = ["./faster_rcnn_hrnetv2p.py"]
model = dict(name="det_maskrcnn_hrnetv2p_w32", mask_channels=256, mask_convs=4, mask_roi_size=14)
