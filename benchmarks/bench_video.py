"""Preparing your own video streams: peak memory and speed of `lmvid prepare video` on a 10-minute 1080p clip.

A 10-minute 1920x1080 H.264 clip at 10 frames/s (6000 frames of a moving square, written by PyAV) is prepared at
64x64 with split by time, in a child process; its peak resident memory (getrusage of the child) is set against the
same child's memory after its imports and against the bound the preparation promises (`lmvid_lib.data.video`: the
decoder's few frames plus CHUNK resized frames), and against what holding the decoded clip would take. No target
beyond that bound: the numbers go into experiments/log.yaml.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lmvid_lib.data.video import CHUNK

SECONDS, FPS, WIDTH, HEIGHT, SIZE = 600, 10, 1920, 1080, 64
DECODER_FRAMES = 8  # frames the decoder (frame threads, reordering) may hold at once, each as YUV and as RGB
CHILD = """
import resource, sys
from lmvid_lib.data import prepare
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
prepare.prepare("video", sys.argv[1], sys.argv[2], progress=False, split="time", size=int(sys.argv[3]))
print(base)
"""


def write_clip(path: Path) -> None:
    """SECONDS x FPS frames, WIDTH x HEIGHT, H.264 (ultrafast): a grey square crossing a dark frame."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        image = np.full((HEIGHT, WIDTH, 3), 20, np.uint8)
        for i in range(SECONDS * FPS):
            x = (i * 7) % (WIDTH - 200)
            image[400:600, x : x + 200] = 200
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            image[400:600, x : x + 200] = 20
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        start = time.perf_counter()
        write_clip(clip)
        written = time.perf_counter() - start
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(clip), str(Path(folder) / "prepared"), str(SIZE)],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    base_mib = int(out.stdout.split()[-1]) / 1024
    frames = SECONDS * FPS
    bound = (DECODER_FRAMES * WIDTH * HEIGHT * 4.5 + CHUNK * SIZE * SIZE * 3) / 2**20  # YUV 1.5 B + RGB 3 B a pixel
    whole = frames * WIDTH * HEIGHT * 3 / 2**20
    print(f"clip: {SECONDS} s, {WIDTH}x{HEIGHT}, {FPS} fps, {frames} frames (written in {written:.0f} s)")
    print(f"prepared at {SIZE}x{SIZE} in {seconds:.1f} s: {frames / seconds:.0f} frames/s")
    print(
        f"peak memory of the preparing process {peak_mib:.0f} MiB; after its imports {base_mib:.0f} MiB; "
        f"added {peak_mib - base_mib:.0f} MiB, bound {bound:.0f} MiB; the decoded clip would hold {whole:.0f} MiB"
    )


if __name__ == "__main__":
    main()
