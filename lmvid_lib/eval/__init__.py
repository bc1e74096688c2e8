"""Evaluation: keypoint regression from landmarks (`keypoints`, `regression`, `table1`, `scales`, `views`), the pose
error of predicted landmark sequences by horizon (`prediction`, and chapter 4's protocol `horizon`), interpolation
between two frames (`interpolation`), per-frame video metrics (`metrics`: PSNR, SSIM, LPIPS), chapter 5's video
prediction protocol (`video_prediction`) and structure measured by a supervised keypoint detector (`structure`)."""
