# Cascade Mask R-CNN on the CPU: `python tools/train_det.py configs/det/mini_cascademaskrcnn.py`, the
# baseline of mini_htc.py. mini_maskrcnn.py's synthetic split, sizes and AdamW schedule with the three cascade
# stages (hrseg.models.cascade_rcnn; its mask heads are mmdetection's: 4 convs of 256 channels on 14x14 RoIs).
# Measured against mini_htc.py in docs/detection.md.
_base_ = ["./mini_maskrcnn.py"]
model = dict(_delete_=True, name="det_cascademaskrcnn_hrnetv2p_w18_small_v1", min_size=256, max_size=256,
             out_channels=64, anchor_scale=4, representation_size=256, sampling_ratio=1, box_batch_size_per_image=64,
             rpn_pre_nms_top_n_train=500, rpn_post_nms_top_n_train=500,
             rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=300)
