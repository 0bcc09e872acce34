# Hybrid Task Cascade on the CPU: `python tools/train_det.py configs/det/mini_htc.py`: mini_cascademaskrcnn.py
# with HTC's heads (the mask information flow, the interleaved training, the fused semantic branch). The
# synthetic split has no COCO-Stuff maps: the semantic branch trains only through the box and mask features it
# feeds (its own loss 0). Test threshold 0.05, the Cascade's, so that the two compare on the heads alone
# (mmdetection's HTC tests from 0.001). Measured against mini_cascademaskrcnn.py in docs/detection.md.
_base_ = ["./mini_cascademaskrcnn.py"]
model = dict(name="det_htc_hrnetv2p_w18_small_v1", box_score_thresh=0.05)
