"""Dataset adapters and transforms, split by job: :mod:`hrseg.data.pose`, :mod:`hrseg.data.seg`,
:mod:`hrseg.data.det`, the synthetic mini-splits in :mod:`hrseg.data.synthetic`; the COCO JSON
loading and validation they share in :mod:`hrseg.data.coco`, dataset helpers in
:mod:`hrseg.data.common`."""
