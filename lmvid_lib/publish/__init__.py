"""Building and publishing the book: the runner (`lmvid run`), notebook execution, the run manifest, the experiment
record and the browser playground's web export."""
