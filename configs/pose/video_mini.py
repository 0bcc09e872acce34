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
# --smooth: each joint's share of the Kalman filter's process noise is its share of the motion in
# walkers' ground truth (`hrseg track-study datasets/tracking_study --joint-motion 12`: the ankles
# and wrists swing, the head and hips move steadily); process_noise and score_weight are the most
# jitter removed without lowering keypoint AP on the twelve tuning sequences (docs/video.md).
test = dict(
    track=dict(keypoint_score_power=0.5, high_thr=0.5, low_thr=0.5),
    smooth=dict(process_noise=2.5, score_weight=3.0,
                joint_noise=[0.0248, 0.0253, 0.0268, 0.028, 0.0299, 0.0531, 0.0534, 0.5602, 0.5383, 1.7998,
                             1.7714, 0.0372, 0.0372, 1.6311, 1.6696, 4.2214, 4.4925]),
)
