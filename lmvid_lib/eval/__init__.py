"""Evaluation protocols: keypoint regression from landmarks (`keypoints`)."""
