"""Multi-task data: one image with its boxes, masks, keypoints and semantic label map."""
