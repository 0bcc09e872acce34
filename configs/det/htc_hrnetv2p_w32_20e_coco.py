# Hybrid Task Cascade HRNetV2p-W32, COCO 20e (mmdetection 2.x configs/hrnet/htc_hrnetv2p_w32_20e_coco.py and its
# bases: htc/htc_r50_fpn_20e_coco.py, htc_r50_fpn_1x_coco.py, htc_without_semantic_r50_fpn_1x_coco.py,
# schedule_1x.py, coco_instance.py): the Cascade Mask R-CNN recipe (cascade_mask_rcnn_hrnetv2p_w32_20e_coco.py)
# with HTC's heads (hrseg.models.cascade_rcnn build_htc): the mask information flow, the interleaved box and mask
# branches, and the fused semantic branch trained on COCO-Stuff's label maps (stuffthingmaps_trainval2017.zip
# unpacked under data.root: stuffthingmaps/train2017/<image file stem>.png), its loss x 0.2; boxes kept from score
# 0.001 at test. Published: box AP 45.4, mask AP 39.9 (det_htc_hrnetv2p_w32.mmdet_coco_20e). Every field
# against mmdetection's: docs/recipes.md.
_base_ = ["./cascade_mask_rcnn_hrnetv2p_w32_20e_coco.py"]
model = dict(name="det_htc_hrnetv2p_w32", box_score_thresh=0.001, semantic_classes=183, semantic_loss_weight=0.2)
data = dict(train=dict(semantic_dir="stuffthingmaps/train2017"))
