"""What every view ships to the browser: its module and stylesheet without comments (a saved
notebook keeps one copy per card), and still a module Node can parse."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from seedance_nb.widgets import Compare, RequestBuilder, Storyboard, TaskView
from seedance_nb.widgets._request import HERE, SHARED_JS

VIEWS = {TaskView: "task_view", Compare: "compare", RequestBuilder: "builder"}
VIEWS[Storyboard] = "storyboard"


@pytest.mark.parametrize("view", list(VIEWS), ids=lambda v: v.__name__)
def test_a_view_ships_its_module_without_comment_lines_and_it_still_parses(view, tmp_path):
    source = str(view._esm)
    files = [(HERE / name).read_text() for name in (*SHARED_JS, f"{VIEWS[view]}.js")]
    assert not [line for line in source.splitlines() if line.lstrip().startswith("//")]
    assert len(source) < sum(map(len, files))
    code = [ln for ln in "\n".join(files).splitlines() if not ln.lstrip().startswith("//")]
    assert source.splitlines() == code  # only comment lines went: nothing else changed
    assert "export default" in source and "async function request(" in source
    style = str(view._css)
    assert "/*" not in style and re.search(r"\.sd-[a-z-]+\s*\{", style)
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    module = tmp_path / "view.mjs"
    module.write_text(source)
    checked = subprocess.run(["node", "--check", str(module)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
