# A person detector for video (`hrseg track-video`, `hrseg infer pose clip.mp4 --track`): the mini
# Faster R-CNN of configs/det/mini_fasterrcnn.py trained on frames of synthetic videos (walkers who
# cross, hide one another and leave the frame; hrseg/data/synthetic/video_frames.py, generated under
# datasets/synthetic_video_frames on first use: 1200 + 200 frames of 256x320 from 14 sequences that
# are not the video split's). The photo-trained detector misses these people (docs/video.md).
_base_ = ["./mini_fasterrcnn.py"]
work_dir = "work_dirs/video_mini"
model = dict(min_size=256, max_size=320)
data = dict(
    root="datasets/synthetic_video_frames",
    synthetic=dict(_delete_=True, kind="video_frames"),
)
