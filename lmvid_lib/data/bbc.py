"""BBC Pose: annotations from the original .mat files, frames from the original jpgs, and their crops.

Source layout (from `bbcpose_extbbcpose_code_1.0.tgz` and the frame archives)::

    <root>/code/bbcpose.mat     struct array `bbcpose` (first 20 entries are BBC Pose), fields in this order:
                                videoName, type ('train'/'val'/'test'), source, train_frames [1,N], train_joints [2,7,N]
                                (x then y, MATLAB 1-based pixels), test_frames, test_joints
    <root>/code/results.mat     test ground truth (layout below)
    <root>/<video>/<frame>.jpg  video 1..20, frame numbers 1-based, not zero-padded

Splits: 'train' = train_frames/train_joints of videos 1-10, 'val' = the same fields of videos 11-15 (as in the official
follow-up code, NVlabs "unsupervised disentanglement", `BBCPoseDataset`), 'test' = the ground truth in results.mat.

results.mat layout assumed: one variable `results`, a 1x1 struct whose field `gt` holds the joints [2,7,N] (x then y,
MATLAB 1-based) and two further [1,N] fields, one for the frame number (its name contains 'frame') and one for the video
number (its name contains 'vid'). This matches how the follow-up code reads it (`results['gt']`, then the 2nd and 3rd
fields as frame and video). Any other layout is an error that names the field that is missing.

Crops. Paper §3.1: "we first roughly crop around the presenter in the train and test images". The crop of the
authors' public evaluation dataset (NVlabs follow-up code, `BBCPoseLandmarkEvalDataset`), used here for every split:
each annotated frame, fit and test alike, is cropped around its own keypoints, a square centred on their tightest box
reaching `margin` = 150 px from that centre in each direction, resized to 128x128 (`evaluation_crop`); keypoints are
then expressed relative to the crop. `video_crop` is an option of ours for training only: one fixed crop per video, so
the static background stays static between the two frames of a temporal pair; `lmvid prepare bbc` writes it as extra
splits (`<split>_video`, see `frame_crop_split`), never in place of the per-frame crops the keypoint protocol uses.
Outside the frame we pad (zeros by default) where the authors' code clips the box, so every crop keeps its square
aspect. Resizing uses Pillow's antialiased bilinear `resize(box=...)` (a well-kept library; no benchmark needed).

Pixel scale of the keypoint accuracy: the paper does not state it. The BBC Pose MATLAB evaluation and the authors'
Python port measure the 6-pixel accuracy at half the original resolution, `0.5 * (p - 1) + 1` of 1-based original
pixels; `lmvid_lib.eval.scales` maps crop pixels back through the stored crops to measure there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from PIL import Image

JOINT_NAMES = [
    "head",
    "right_wrist",
    "left_wrist",
    "right_elbow",
    "left_elbow",
    "right_shoulder",
    "left_shoulder",
]
N_JOINTS = len(JOINT_NAMES)
SPLIT_VIDEOS = {"train": list(range(1, 11)), "val": list(range(11, 16)), "test": list(range(16, 21))}
VIDEO_CROP_SUFFIX = "_video"  # `lmvid prepare bbc` writes the video-crop copy of split s as s + VIDEO_CROP_SUFFIX
BBCPOSE_FIELDS = ("videoName", "type", "source", "train_frames", "train_joints", "test_frames", "test_joints")


# ----------------------------------------------------------------------------------------------------------- crops
def _as_like(value: Any, points: Any) -> Any:
    """`value` (float or array) as the array type of `points` (numpy or torch), broadcastable on the leading dim."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim == 1:  # one crop per leading entry of `points`: [N] -> [N,1,...,1]
        if points.shape[0] != value.shape[0]:
            raise ValueError(f"{value.shape[0]} crops but points have leading dimension {points.shape[0]}")
        value = value.reshape(value.shape + (1,) * (points.ndim - 1))
    if isinstance(points, (np.ndarray, np.generic)):
        return value
    import torch

    return torch.as_tensor(value, dtype=points.dtype, device=points.device)


@dataclass(frozen=True)
class CropTransform:
    """A square crop of the original frame, resized to `out_size` x `out_size`.

    Fields are floats (one crop) or float arrays [N] (one crop per frame; points then have a leading dim N).
    `center_x, center_y` are in 0-based pixel coordinates of the original frame (pixel centres at integers);
    the crop covers [center - half_size, center + half_size] in both x and y.
    """

    center_x: float | np.ndarray
    center_y: float | np.ndarray
    half_size: float | np.ndarray
    out_size: int = 128

    def __post_init__(self) -> None:
        if np.any(np.asarray(self.half_size) <= 0):
            raise ValueError(f"CropTransform.half_size must be > 0, got {self.half_size}")
        if int(self.out_size) != self.out_size or self.out_size < 1:
            raise ValueError(f"CropTransform.out_size must be a positive int, got {self.out_size}")

    @property
    def batched(self) -> bool:
        return np.ndim(self.center_x) == 1

    def __len__(self) -> int:
        if not self.batched:
            raise TypeError("a single CropTransform has no len()")
        return len(self.center_x)

    def __getitem__(self, i: int) -> CropTransform:
        if not self.batched:
            raise TypeError("a single CropTransform cannot be indexed")
        return CropTransform(
            float(self.center_x[i]), float(self.center_y[i]), float(self.half_size[i]), int(self.out_size)
        )

    def _center(self, points: Any) -> Any:
        cx, cy = _as_like(self.center_x, points), _as_like(self.center_y, points)
        return cx, cy

    def _scale(self, points: Any) -> Any:
        """Crop pixels per original pixel."""
        return _as_like(self.out_size / (2.0 * np.asarray(self.half_size, dtype=np.float64)), points)

    def _split(self, points: Any) -> tuple[Any, Any]:
        if points.shape[-1] != 2:
            raise ValueError(f"points must be [...,2] (x, y), got shape {tuple(points.shape)}")
        return points[..., 0], points[..., 1]

    def _join(self, x: Any, y: Any) -> Any:
        if isinstance(x, (np.ndarray, np.generic)):
            return np.stack([x, y], axis=-1)
        import torch

        return torch.stack([x, y], dim=-1)

    def to_crop(self, points: Any) -> Any:
        """[...,2] original-frame pixels -> [...,2] crop-centred pixels at `out_size` (crop corners at +-out_size/2)."""
        points = _float_points(points)
        x, y = self._split(points)
        cx, cy = self._center(x)
        s = self._scale(x)
        return self._join((x - cx) * s, (y - cy) * s)

    def from_crop(self, points: Any) -> Any:
        """Inverse of `to_crop`: [...,2] crop-centred pixels -> [...,2] original-frame pixels."""
        points = _float_points(points)
        x, y = self._split(points)
        cx, cy = self._center(x)
        s = self._scale(x)
        return self._join(x / s + cx, y / s + cy)

    def to_crop_pixels(self, points: Any) -> Any:
        """[...,2] original-frame pixels -> [...,2] 0-based pixel coordinates in the out_size x out_size crop image."""
        return self.to_crop(points) + (self.out_size / 2.0 - 0.5)

    def from_crop_pixels(self, points: Any) -> Any:
        """Inverse of `to_crop_pixels`."""
        return self.from_crop(_float_points(points) - (self.out_size / 2.0 - 0.5))

    def crop_image(self, image: np.ndarray, pad: str = "zeros") -> np.ndarray:
        """uint8 [H,W,C] -> uint8 [out_size,out_size,C] (batched crops: [N,H,W,C] -> [N,out,out,C]).

        Outside the frame the image is extended with zeros (`pad="zeros"`) or its edge pixels (`pad="edge"`).
        """
        if pad not in ("zeros", "edge"):
            raise ValueError(f"pad must be 'zeros' or 'edge', got {pad!r}")
        image = np.asarray(image)
        if self.batched:
            if image.ndim != 4 or len(image) != len(self):
                raise ValueError(f"{len(self)} crops need images [N={len(self)},H,W,C], got {image.shape}")
            return np.stack([self[i].crop_image(image[i], pad) for i in range(len(self))])
        if image.ndim != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 [H,W,C], got {image.dtype} {image.shape}")
        return _crop_resize(
            image, float(self.center_x), float(self.center_y), float(self.half_size), int(self.out_size), pad
        )

    def as_array(self) -> np.ndarray:
        """float64 [3] or [N,3]: (center_x, center_y, half_size), e.g. to store the crops of a prepared split."""
        return np.stack(np.broadcast_arrays(self.center_x, self.center_y, self.half_size), axis=-1).astype(np.float64)

    @classmethod
    def from_array(cls, boxes: np.ndarray, out_size: int) -> CropTransform:
        """From `as_array()` output: [3] -> one crop, [N,3] -> batched crops."""
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.shape[-1] != 3 or boxes.ndim > 2:
            raise ValueError(f"crop boxes must be [3] or [N,3], got {boxes.shape}")
        if boxes.ndim == 1:
            return cls(float(boxes[0]), float(boxes[1]), float(boxes[2]), int(out_size))
        return cls(boxes[:, 0], boxes[:, 1], boxes[:, 2], int(out_size))


def _float_points(points: Any) -> Any:
    if isinstance(points, np.ndarray) or not hasattr(points, "is_floating_point"):
        return np.asarray(points, dtype=np.float64)
    return points if points.is_floating_point() else points.float()


def _crop_resize(image: np.ndarray, cx: float, cy: float, half: float, out_size: int, pad: str) -> np.ndarray:
    h, w, c = image.shape
    # Pillow's box uses pixel-edge coordinates (pixel i spans [i, i+1]); ours puts pixel centres at integers.
    x0, y0, x1, y1 = cx - half + 0.5, cy - half + 0.5, cx + half + 0.5, cy + half + 0.5
    # Cut a window with slack for the resampling filter's support, pad the part outside the frame, then resize.
    slack = int(np.ceil(2 * half / out_size)) + 2
    wx0, wy0 = int(np.floor(x0)) - slack, int(np.floor(y0)) - slack
    wx1, wy1 = int(np.ceil(x1)) + slack, int(np.ceil(y1)) + slack
    rows, cols = np.arange(wy0, wy1), np.arange(wx0, wx1)
    # Edge padding = clamped indices; zero padding = blank those outside afterwards.
    window = image[np.clip(rows, 0, h - 1)][:, np.clip(cols, 0, w - 1)]
    if pad == "zeros":
        window[(rows < 0) | (rows >= h)] = 0
        window[:, (cols < 0) | (cols >= w)] = 0
    box = (x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0)
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(window[..., k])).resize(
                (out_size, out_size), Image.Resampling.BILINEAR, box=box
            )
        )
        for k in range(c)
    ]
    return np.stack(channels, axis=-1)


def _joint_box(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """joints [...,J,2] -> per-leading-entry (xmin, ymin, xmax, ymax) over the J joints, ignoring NaNs."""
    if np.isnan(joints).all(axis=(-1, -2)).any():
        raise ValueError("joints: a frame has no annotated keypoint (all NaN); cannot place a crop")
    return (
        np.nanmin(joints[..., 0], -1),
        np.nanmin(joints[..., 1], -1),
        np.nanmax(joints[..., 0], -1),
        np.nanmax(joints[..., 1], -1),
    )


def evaluation_crop(joints: np.ndarray, margin: float = 150.0, out_size: int = 128) -> CropTransform:
    """The keypoint protocol's crop of every annotated frame, fit and test alike: joints [7,2] -> one crop,
    [N,7,2] -> batched crops (one per frame).

    Centre = centre of the tightest box around the frame's keypoints; the square crop reaches `margin` px from it in
    each direction (half_size = margin; 150 in the authors' evaluation code); resized to out_size x out_size.
    Joints are 0-based original-frame pixels.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim not in (2, 3) or joints.shape[-1] != 2:
        raise ValueError(f"evaluation_crop: joints must be [J,2] or [N,J,2], got {joints.shape}")
    if margin <= 0:
        raise ValueError(f"evaluation_crop: margin must be > 0, got {margin}")
    x0, y0, x1, y1 = _joint_box(joints)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if joints.ndim == 2:
        return CropTransform(float(cx), float(cy), float(margin), int(out_size))
    return CropTransform(cx, cy, np.full(len(joints), float(margin)), int(out_size))


def video_crop(video_joints: np.ndarray, margin: float = 60.0, out_size: int = 128) -> CropTransform:
    """One fixed crop for a whole video (an option of ours, for training only), from its annotated joints [N,7,2]
    (0-based original pixels).

    The square is centred on the box around every annotated keypoint of the video and reaches `margin` px beyond the
    box's longer side, so the subject stays inside in every frame (60 px, the margin of the authors' per-frame
    training crops, keeps the scale close to the 300 px evaluation crop for a signer spanning ~250 px).
    """
    video_joints = np.asarray(video_joints, dtype=np.float64)
    if video_joints.ndim != 3 or video_joints.shape[-1] != 2 or len(video_joints) == 0:
        raise ValueError(f"video_crop: video_joints must be [N>0,J,2], got {video_joints.shape}")
    if margin < 0:
        raise ValueError(f"video_crop: margin must be >= 0, got {margin}")
    flat = video_joints.reshape(1, -1, 2)
    x0, y0, x1, y1 = (float(v[0]) for v in _joint_box(flat))
    half = max(x1 - x0, y1 - y0) / 2 + margin
    if half <= 0:
        raise ValueError("video_crop: all keypoints coincide and margin is 0; the crop would be empty")
    return CropTransform((x0 + x1) / 2, (y0 + y1) / 2, half, int(out_size))


def frame_crop_split(split: str) -> str:
    """The split holding the same annotated frames cropped per frame: 'train_video' -> 'train'; others unchanged."""
    return split.removesuffix(VIDEO_CROP_SUFFIX)


# ----------------------------------------------------------------------------------------------------- annotations
@dataclass
class BBCAnnotations:
    """Annotated frames of one split. joints are 0-based pixels (x, y) of the original frame."""

    video_ids: np.ndarray  # int64 [N], 1..20
    frame_ids: np.ndarray  # int64 [N], 1-based frame numbers (the jpg names)
    joints: np.ndarray  # float64 [N,7,2]

    def __len__(self) -> int:
        return len(self.video_ids)

    def videos(self) -> Iterator[tuple[int, np.ndarray]]:
        """(video id, row indices sorted by frame number) for each video, in increasing video id."""
        for vid in np.unique(self.video_ids):
            rows = np.flatnonzero(self.video_ids == vid)
            yield int(vid), rows[np.argsort(self.frame_ids[rows], kind="stable")]


def _loadmat(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(
            f"BBC Pose: missing {path} (expected <root>/code/{path.name} from bbcpose_extbbcpose_code_1.0.tgz)"
        )
    try:
        return scipy.io.loadmat(path, squeeze_me=False, struct_as_record=True)
    except Exception as exc:  # scipy raises several types for truncated / non-MAT files
        raise ValueError(f"BBC Pose: cannot read {path} as a MATLAB file: {exc}") from exc


def _field(struct: np.ndarray, name: str, path: Path, what: str) -> np.ndarray:
    names = struct.dtype.names or ()
    if name not in names:
        raise KeyError(f"{path}: {what} has no field {name!r} (fields: {list(names)})")
    return struct[name]


def _joints_from_mat(value: np.ndarray, n: int, path: Path, what: str) -> np.ndarray:
    """MATLAB [2,7,N] 1-based -> [N,7,2] 0-based."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0 and n == 0:
        return np.zeros((0, N_JOINTS, 2))
    if arr.ndim == 2 and n == 1:
        arr = arr[:, :, None]
    if arr.shape != (2, N_JOINTS, n):
        raise ValueError(f"{path}: {what} must be [2,{N_JOINTS},{n}] (x/y, joint, frame), got {arr.shape}")
    return np.transpose(arr, (2, 1, 0)) - 1.0


def _frames_from_mat(value: np.ndarray, path: Path, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if np.any(arr != np.round(arr)) or np.any(arr < 1):
        raise ValueError(f"{path}: {what} must hold positive integer frame numbers")
    return arr.astype(np.int64)


def load_annotations(root: str | Path, split: str) -> BBCAnnotations:
    """Read the annotations of `split` ('train', 'val' or 'test') from `<root>/code/{bbcpose,results}.mat`."""
    root = Path(root)
    if split not in SPLIT_VIDEOS:
        raise ValueError(f"BBC Pose split must be one of {list(SPLIT_VIDEOS)}, got {split!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"BBC Pose root {root} does not exist")
    if split == "test":
        return _load_test(root / "code" / "results.mat")
    path = root / "code" / "bbcpose.mat"
    mat = _loadmat(path)
    if "bbcpose" not in mat:
        raise KeyError(f"{path}: no variable 'bbcpose' (variables: {sorted(k for k in mat if not k.startswith('__'))})")
    table = mat["bbcpose"].reshape(-1)
    if table.dtype.names is None:
        raise ValueError(f"{path}: 'bbcpose' is not a struct array")
    for name in ("train_frames", "train_joints"):
        _field(table, name, path, "bbcpose")
    if len(table) < max(SPLIT_VIDEOS[split]):
        raise ValueError(f"{path}: 'bbcpose' has {len(table)} entries, expected at least 20 (BBC Pose videos 1-20)")
    vids, frames, joints = [], [], []
    for vid in SPLIT_VIDEOS[split]:
        entry = table[vid - 1]
        what = f"bbcpose({vid})"
        f = _frames_from_mat(entry["train_frames"], path, f"{what}.train_frames")
        j = _joints_from_mat(entry["train_joints"], len(f), path, f"{what}.train_joints")
        vids.append(np.full(len(f), vid, np.int64))
        frames.append(f)
        joints.append(j)
    return BBCAnnotations(np.concatenate(vids), np.concatenate(frames), np.concatenate(joints))


def _load_test(path: Path) -> BBCAnnotations:
    mat = _loadmat(path)
    if "results" not in mat:
        raise KeyError(f"{path}: no variable 'results' (variables: {sorted(k for k in mat if not k.startswith('__'))})")
    results = mat["results"].reshape(-1)
    if results.dtype.names is None or len(results) != 1:
        raise ValueError(f"{path}: 'results' must be a 1x1 struct, got {mat['results'].dtype} {mat['results'].shape}")
    names = results.dtype.names
    entry = results[0]
    gt = _field(results, "gt", path, "results")[0]

    def find(keyword: str, what: str) -> str:
        found = [n for n in names if keyword in n.lower() and n != "gt"]
        if len(found) != 1:
            raise KeyError(
                f"{path}: results needs exactly one field whose name contains {keyword!r} ({what}); "
                f"fields: {list(names)}"
            )
        return found[0]

    frame_name, video_name = find("frame", "frame numbers"), find("vid", "video numbers")
    frames = _frames_from_mat(entry[frame_name], path, f"results.{frame_name}")
    videos = _frames_from_mat(entry[video_name], path, f"results.{video_name}")
    if len(videos) != len(frames):
        raise ValueError(
            f"{path}: results.{frame_name} has {len(frames)} entries but results.{video_name} {len(videos)}"
        )
    joints = _joints_from_mat(gt, len(frames), path, "results.gt")
    return BBCAnnotations(videos, frames, joints)


# ----------------------------------------------------------------------------------------------------------- frames
def frame_path(root: str | Path, video_id: int, frame_id: int) -> Path:
    return Path(root) / str(int(video_id)) / f"{int(frame_id)}.jpg"


def read_frame(path: Path, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 [H,W,3] RGB from one jpg; `expected_size` = (H, W) to check. Errors name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"BBC Pose: missing frame {path} (expected <root>/<video>/<frame>.jpg)")
    try:
        with Image.open(path) as img:
            img.load()
            frame = np.asarray(img.convert("RGB"))
    except Exception as exc:  # Pillow raises OSError / SyntaxError / ValueError for corrupt or truncated files
        raise ValueError(f"BBC Pose: cannot decode {path} as an image: {exc}") from exc
    if expected_size is not None and frame.shape[:2] != tuple(expected_size):
        raise ValueError(
            f"BBC Pose: frame {path} is {frame.shape[1]}x{frame.shape[0]} (WxH), expected "
            f"{expected_size[1]}x{expected_size[0]} like the other frames"
        )
    return frame
