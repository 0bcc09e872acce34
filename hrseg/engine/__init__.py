"""The training engine shared by the pose, segmentation and detection tools (see trainer.py)."""
from hrseg.engine.checkpoint_io import load_state, rng_state, seed_everything, set_rng_state
from hrseg.engine.distributed import (
    all_gather_object, barrier, broadcast_object, build_dataloader, cleanup, get_rank,
    get_world_size, init_distributed, is_main_process, shard, unwrap,
)
from hrseg.engine.schedules import build_optimizer, build_scheduler
from hrseg.engine.trainer import TRAIN_DEFAULTS, Trainer

__all__ = [
    "Trainer", "TRAIN_DEFAULTS", "build_dataloader", "build_optimizer", "build_scheduler",
    "seed_everything", "rng_state", "set_rng_state", "load_state",
    "init_distributed", "cleanup", "get_rank", "get_world_size", "is_main_process", "barrier",
    "all_gather_object", "broadcast_object", "shard", "unwrap",
]
