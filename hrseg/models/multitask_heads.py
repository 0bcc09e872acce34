"""The RoI heads of the multi-task model: torchvision's box, mask and keypoint branches on the same
RoIs, trained with partial labels.

torchvision's ``RoIHeads`` needs every target to carry ``masks`` (Mask R-CNN) and ``keypoints``
(Keypoint R-CNN) and trains both branches on every positive RoI. Here:

- an image whose target says ``has_masks`` False (a dataset without instance masks for it)
  contributes no RoI to the mask loss: an all-zero mask would train the background;
- the keypoint branch trains on the positive RoIs matched to a ground-truth instance with at
  least one labelled keypoint (people with keypoints; other classes carry v=0), so images and
  instances without keypoints cost nothing;
- ``mask_rois_per_image`` / ``keypoint_rois_per_image`` cap the positives each branch trains on
  per image (None: all); the sampler has shuffled them, so the first ones are a random subset;
- at test time keypoints are predicted for the ``keypoint_label`` (person) detections only; the
  other detections get zeros (``keypoints`` (N, K, 3), ``keypoints_scores`` (N, K)). (A
  predictor raises ``score_thresh`` to the score it reports, so that the mask and keypoint
  branches run for those only: :func:`hrseg.inference.predictor.skip_unreported`.)
- ``keypoint_loss``: torchvision's ``"softmax"`` (spatial-softmax cross-entropy, its decoding),
  ``"gaussian_softmax"`` (the same against a Gaussian of ``keypoint_sigma`` cells) or
  ``"heatmap"`` (Gaussian heatmaps of ``keypoint_sigma`` with hrseg's codec and MSE loss:
  :mod:`hrseg.models.multitask_keypoints`);
- the softmax heads' keypoints are the mean of the spatial softmax near its peak, and their
  ``keypoints_scores`` the probability there, in [0, 1]
  (:func:`~hrseg.models.multitask_keypoints.softmax_keypoints`; torchvision's decoding takes the
  argmax and reports the logit); the heatmap head's are the official decoding and the maximum.

The losses also report how many images of the batch had no mask or keypoint labels
(``masked_mask_images``, ``masked_keypoint_images``: counts, not losses).
"""
from __future__ import annotations

import torch
from torchvision.models.detection.roi_heads import keypointrcnn_loss, maskrcnn_inference

from hrseg.errors import ConfigError
from hrseg.models.multitask_keypoints import (
    gaussian_softmax_keypoint_loss, heatmap_keypoint_loss, heatmap_keypoints, softmax_keypoints,
)
from hrseg.models.rcnn_heads import RCNNRoIHeads

__all__ = ["COUNT_KEYS", "MultiRoIHeads"]

COUNT_KEYS = ("masked_mask_images", "masked_keypoint_images")  # counts in the loss dict, not losses


def _flag(target: dict[str, torch.Tensor], key: str) -> bool:
    value = target.get(key)
    return True if value is None else bool(value)


class MultiRoIHeads(RCNNRoIHeads):
    """torchvision's ``RoIHeads`` with partial-label training and person-only keypoints (module
    docstring) and the box loss of :class:`~hrseg.models.rcnn_heads.RCNNRoIHeads`. Made by re-classing a
    Faster R-CNN's heads; set the attributes below after."""

    keypoint_label: int = 1
    mask_rois_per_image: int | None = None
    keypoint_rois_per_image: int | None = None
    keypoint_loss: str = "softmax"
    keypoint_sigma: float = 2.0

    def forward(self, features, proposals, image_shapes, targets=None):  # noqa: D102 - torchvision's signature
        if not self.training:
            return self._predict(features, proposals, image_shapes), {}
        proposals, matched_idxs, labels, losses = self.box_losses(features, proposals, image_shapes, targets)
        device = proposals[0].device
        if self.has_mask():
            keep = [_flag(t, "has_masks") for t in targets]
            losses["loss_mask"] = self.mask_loss(features, proposals, matched_idxs, labels, targets, image_shapes,
                                                 keep, self.mask_rois_per_image)
            losses["masked_mask_images"] = torch.tensor(float(keep.count(False)), device=device)
        if self.has_keypoint():
            labelled = [t["keypoints"][:, :, 2].amax(1) > 0 if len(t["keypoints"]) else
                        torch.zeros(0, dtype=torch.bool, device=device) for t in targets]
            keep = [_flag(t, "has_keypoints") for t in targets]
            rois, matched = self.positives(proposals, matched_idxs, labels, keep, self.keypoint_rois_per_image,
                                           labelled)
            logits = self.keypoint_predictor(self.keypoint_head(self.keypoint_roi_pool(features, rois, image_shapes)))
            gt = [t["keypoints"] for t in targets]
            if self.keypoint_loss == "heatmap":
                losses["loss_keypoint"] = heatmap_keypoint_loss(logits, rois, gt, matched, self.keypoint_sigma)
            elif self.keypoint_loss == "gaussian_softmax":
                losses["loss_keypoint"] = gaussian_softmax_keypoint_loss(logits, rois, gt, matched, self.keypoint_sigma)
            elif sum(len(r) for r in rois):
                losses["loss_keypoint"] = keypointrcnn_loss(logits, rois, gt, matched)
            else:  # torchvision's loss divides by the labelled count: zero without a labelled RoI
                losses["loss_keypoint"] = logits.sum() * 0.0
            losses["masked_keypoint_images"] = torch.tensor(float(keep.count(False)), device=device)
        return [], losses

    def _predict(self, features, proposals, image_shapes):
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        boxes, scores, labels = self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
        result = [{"boxes": b, "labels": lab, "scores": s} for b, s, lab in zip(boxes, scores, labels)]
        if self.has_mask():
            logits = self.mask_predictor(self.mask_head(self.mask_roi_pool(features, boxes, image_shapes)))
            for probs, r in zip(maskrcnn_inference(logits, labels), result):
                r["masks"] = probs
        if self.has_keypoint() and torch.jit.is_tracing():
            self._predict_keypoints_traced(features, boxes, labels, image_shapes, result)
        elif self.has_keypoint():
            people = [lab == self.keypoint_label for lab in labels]
            rois = [b[p] for b, p in zip(boxes, people)]
            logits = self.keypoint_predictor(self.keypoint_head(self.keypoint_roi_pool(features, rois, image_shapes)))
            num = self.keypoint_predictor.kps_score_lowres.out_channels
            if self.keypoint_loss == "heatmap":
                found, found_scores = heatmap_keypoints(logits, rois)
            else:
                counts = [len(r) for r in rois]
                found, found_scores = (t.split(counts) for t in softmax_keypoints(logits, torch.cat(rois)))
            for r, p, kps, kp_scores in zip(result, people, found, found_scores):
                r["keypoints"] = kps.new_zeros((len(p), num, 3))
                r["keypoints"][p] = kps
                r["keypoints_scores"] = kp_scores.new_zeros((len(p), num))
                r["keypoints_scores"][p] = kp_scores
        return result

    def _predict_keypoints_traced(self, features, boxes, labels, image_shapes, result) -> None:
        """The keypoints as an exported graph computes them: for every detection, the other
        classes' then zeroed, with no shape taken from the data (the eager path's person-only
        selection would be traced as a constant count). The same values for the people; the head
        runs for every detection, so the graph pays for the other classes' keypoints too."""
        if self.keypoint_loss == "heatmap":
            raise ConfigError("the Gaussian-heatmap keypoint head decodes with NumPy: it cannot be exported "
                              "(model.keypoint_loss 'softmax' or 'gaussian_softmax' can)")
        logits = self.keypoint_predictor(self.keypoint_head(self.keypoint_roi_pool(features, boxes, image_shapes)))
        counts = [b.size(0) for b in boxes]  # traced sizes, as torchvision's
        found, found_scores = (t.split(counts) for t in softmax_keypoints(logits, torch.cat(boxes)))
        for r, lab, kps, kp_scores in zip(result, labels, found, found_scores):
            person = (lab == self.keypoint_label)[:, None]
            r["keypoints"] = kps * person[..., None].to(kps.dtype)
            r["keypoints_scores"] = kp_scores * person.to(kp_scores.dtype)
