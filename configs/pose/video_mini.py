# A pose model for video (`hrseg track-video`, `hrseg infer pose clip.mp4 --track`): the main job's
# small HRNet (configs/pose/synthetic_mini.py) trained on frames of synthetic videos (walkers who
# cross, hide one another and leave the frame; hrseg/data/synthetic/video_frames.py, generated under
# datasets/synthetic_video_frames on first use, the same frames configs/det/video_mini.py trains the
# detector on). The photo-trained model puts a half-hidden walker's joints on the person in front
# (docs/video.md).
_base_ = ["./synthetic_mini.py"]
work_dir = "work_dirs/video_pose_mini"
data = dict(
    root="datasets/synthetic_video_frames",
    synthetic=dict(_delete_=True, kind="video_frames"),
)
# With --track, a person's score is its box's times the square root of its keypoints' mean score, and
# one under 0.5 is left out (clutter, not a half-seen person): this model is sure of the walkers it
# was trained on and unsure of the clutter the detector fires on; chosen on twelve tuning sequences
# of the pipeline's own detections (docs/video.md). A model unsure of everything would keep the
# tracker from starting any track, which is why this is not the tracker's default.
test = dict(track=dict(keypoint_score_power=0.5, high_thr=0.5, low_thr=0.5))
