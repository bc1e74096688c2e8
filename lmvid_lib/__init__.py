"""lmvid: Video Interpolation and Prediction with Unsupervised Landmarks (Shih et al., 2019), re-implemented."""

__version__ = "0.1.0"
