"""Synthetic mini-splits for CPU runs: person figures (keypoints, instances, LIP part masks) and
street scenes (Cityscapes layout).

One job per module: :mod:`.body` (the figures' 3D body model, poses, views, projection),
:mod:`.figures` (a posed, coloured figure that draws itself and reads its keypoints),
:mod:`.objects` (balls, boxes, signs, backgrounds), :mod:`.scenes` (random scenes, rendering),
:mod:`.annotate` (COCO annotations from the label map), :mod:`.canvas` (the one renderer: image,
label map and depth drawn together), :mod:`.colours`, :mod:`.generate` (the one generate-once
logic: completion marker, config comparison, stale files); the datasets :mod:`.pose` (COCO
keypoints and instances), :mod:`.lip` (LIP human parsing) and :mod:`.streets` (Cityscapes layout).
The command line is ``hrseg synthetic`` (:mod:`hrseg.commands.synthetic`).
"""
