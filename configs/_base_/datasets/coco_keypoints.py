# COCO 2017 person keypoints, laid out as datasets/README.md describes, 256x192 crops.
data = dict(
    root="datasets/coco",
    train=dict(ann_file="annotations/person_keypoints_train2017.json", img_dir="images/train2017"),
    val=dict(ann_file="annotations/person_keypoints_val2017.json", img_dir="images/val2017",
             det_file="person_detection_results/COCO_val2017_detections_AP_H_56_person.json"),
    input_size=[256, 192],
    heatmap_size=[64, 48],
    sigma=2.0,
    batch_size=32,
    val_batch_size=64,
    num_workers=4,
)
# Validation during training on ground-truth boxes (official USE_GT_BBOX: true); tools/test_pose.py
# uses the detections above (the published AP).
test = dict(flip=True, shift_heatmap=True, decoder="argmax", oks_thr=0.9, vis_thr=0.2, image_thr=0.0,
            train_val_boxes="gt")
