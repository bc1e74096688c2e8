"""Evaluation: keypoint regression from landmarks (`keypoints`, `regression`, `table1`, `scales`) and the pose error
of predicted landmark sequences by horizon (`prediction`)."""
