"""How much a saved notebook grows per finished video, against embedding the MP4.

Two notebooks run in real kernels against one simulator, each finishing the same videos. One
shows every job as its TaskView (the video travels to the browser on request, so only a
poster is saved); the baseline shows each video the usual way, `IPython.display.Video(path,
embed=True)`, which stores the MP4 as base64. Both are saved with their widget state, as
JupyterLab saves them. Goal (issue 6): at most about 20 KB per video.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks._report import Figure

VIDEOS = 6
GOAL_KB = 20.0

SETUP = (
    "import seedance_nb as sd\n"
    "studio = sd.Studio(experiment='growth', poll_interval=0.05, verbose=False)\n"
    "jobs = [studio.submit(sd.TextToVideo(f'growth {{i}}', duration=5)) for i in range({n})]\n"
    "studio.wait(jobs, timeout=300)\n"
    "assert all(j.local_path for j in jobs)"
)
SHOW = {
    "TaskView": "from seedance_nb.widgets import TaskView\nfor job in jobs[:{n}]:\n"
    "    display(TaskView(job))",
    "embedded MP4": "from IPython.display import Video\nfor job in jobs[:{n}]:\n"
    "    display(Video(str(job.local_path), embed=True))",
}


def saved_size(work: Path, show: str, videos: int) -> int:
    """Bytes of the saved notebook after showing `videos` finished jobs with `show`."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP.format(n=max(videos, 1))),
        nbformat.v4.new_code_cell(show.format(n=videos) + "\nstudio.close()"),
    ]
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(work)}},
    ).execute()
    nb.cells[0].outputs = []  # the same in both runs; only what the videos add is compared
    path = work / "saved.ipynb"
    nbformat.write(nb, path)
    return path.stat().st_size


def run() -> list[Figure]:
    work = Path(tempfile.mkdtemp(prefix="bench-notebook-"))
    env = {
        "SEEDANCE_SIM_SPEED": "0.01",
        "SEEDANCE_LEDGER": str(work / "ledger.sqlite"),
        "SEEDANCE_OUTPUTS": str(work / "outputs"),
    }
    saved = {k: os.environ.get(k) for k in [*env, "SEEDANCE_API_KEY"]}
    os.environ.update(env)
    os.environ.pop("SEEDANCE_API_KEY", None)
    try:
        per_video = {}
        for name, show in SHOW.items():
            empty = saved_size(work, show, 0)
            full = saved_size(work, show, VIDEOS)
            per_video[name] = (full - empty) / VIDEOS / 1024
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    value = per_video["TaskView"]
    return [
        Figure(
            f"saved notebook growth per finished video ({VIDEOS} videos, 5 s 1280x720)",
            value,
            "KB",
            "IPython Video(embed=True)",
            per_video["embedded MP4"],
            goal=f"<= {GOAL_KB:.0f} KB",
            met=value <= GOAL_KB,
        )
    ]
