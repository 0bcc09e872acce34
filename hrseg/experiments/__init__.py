"""Experiments on the mini-splits that the EfficientNet pages report (docs/efficientnet.md).

* :mod:`~hrseg.experiments.scaling_search`: EfficientNet's compound-scaling grid search;
* :mod:`~hrseg.experiments.effnetv2_search`: EfficientNetV2's training-aware search
  (reward ``A * S^w * P^v``) over HRNet stages;
* :mod:`~hrseg.experiments.progressive_study`: fixed size against progressive learning, arms
  a-e, several seeds, pose and segmentation.

The tools ``tools/search_scaling.py``, ``tools/search_effnetv2.py`` and
``tools/progressive_experiment.py`` only parse arguments and call these.
"""
