import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Seedance 2.0 in marimo")


@app.cell
def _():
    import marimo as mo

    import seedance_nb as sd

    return mo, sd


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    # Seedance 2.0 in marimo: quickstart

    With no `SEEDANCE_API_KEY` set, the studio starts a local simulator: it behaves like
    the hosted API, renders real videos and spends no credits. With a key set (see the
    README), the same cells run against the hosted API.

    marimo re-runs a cell whenever a cell it depends on changes. That is safe here: a
    request already submitted in this experiment is reused, never paid for again.
    """)
    return


@app.cell
def _(sd):
    studio = sd.Studio(experiment="marimo-quickstart")
    studio
    return (studio,)


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    Build a request. Every rule of the API is checked here, before anything is sent, and
    the estimate uses the published credit formula. **Edit the cell below** (change the
    prompt, or just add a comment) and marimo re-runs it and every cell below that uses
    `req`, the submit cell included.
    """)
    return


@app.cell
def _(sd):
    req = sd.TextToVideo("A golden retriever running on the beach at sunset", duration=5)
    estimate = sd.estimate_credits(req, model="seedance2")
    estimate
    return (req,)


@app.cell
def _(sd):
    # bad input fails at once, naming the field and the rule
    try:
        sd.TextToVideo("too short", duration=3)
    except sd.ValidationError as _error:
        _refused = str(_error)
    _refused
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    Submit. The call returns at once and the card updates live as the task moves; the
    video plays in the card when it is ready. The label is yours to edit: it never
    decides whether a request is new.
    """)
    return


@app.cell
def _(mo):
    label = mo.ui.text(value="first", label="label")
    label
    return (label,)


@app.cell
def _(label, req, sd, studio):
    job = studio.submit(req, label=label.value)
    sd.widgets.TaskView(job)
    return (job,)


@app.cell
def _(job, mo, studio):
    # what this experiment holds after the submit cell ran (again): one row, one charge
    _rows = studio.ledger.rows(experiment="marimo-quickstart")
    mo.md(
        f"The submit cell gave job **#{job.id}**. The experiment holds "
        f"<span id='sd-rows'>{len(_rows)}</span> submission(s) and "
        f"<span id='sd-committed'>{studio.ledger.committed('marimo-quickstart')}</span> "
        "credits committed: re-running the submit cell sent nothing new."
    )
    return


@app.cell
def _(job):
    task = job.result()  # blocks this cell only; `await job` does not block at all
    task.status, task.credits_used, job.local_path
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    Try more with the builder: type a prompt, pick the length, resolution and model, watch
    the estimate, press **Generate**. Each press submits once; the new job appears below.
    """)
    return


@app.cell
def _(mo, sd):
    b_prompt = mo.ui.text_area(placeholder="Describe the video…", label="prompt", full_width=True)
    b_seconds = mo.ui.slider(4, 15, value=5, label="seconds", show_value=True)
    b_resolution = mo.ui.dropdown(list(sd.RESOLUTIONS), value="1280x720", label="resolution")
    b_model = mo.ui.radio(list(sd.MODELS), value="seedance2", label="model", inline=True)
    generate = mo.ui.run_button(label="Generate")
    return b_model, b_prompt, b_resolution, b_seconds, generate


@app.cell
def _(b_model, b_prompt, b_resolution, b_seconds, generate, mo, sd):
    try:
        b_req = sd.TextToVideo(
            b_prompt.value or None, duration=b_seconds.value, resolution=b_resolution.value
        )
        _note = f"**{sd.estimate_credits(b_req, b_model.value)} credits**"
    except sd.ValidationError as _error:
        b_req, _note = None, f"<span class='sd-invalid'>{_error.field}: {_error.rule}</span>"
    mo.vstack(
        [
            b_prompt,
            mo.hstack([b_seconds, b_resolution, b_model], justify="start"),
            mo.hstack([generate, mo.md(_note)], justify="start"),
        ]
    )
    return (b_req,)


@app.cell
def _(b_model, b_req, generate, mo, sd, studio):
    mo.stop(not generate.value or b_req is None)
    built = studio.submit(b_req, model=b_model.value, label="builder")
    sd.widgets.TaskView(built)
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    Compare two prompts side by side, and vote for the one you prefer: each vote is a row
    in the ledger, and `studio.results()` ranks the variants. (In JupyterLab,
    `studio.compare([job, job_b])` also plays them in step; its videos travel by anywidget
    commands, which marimo does not support yet.)
    """)
    return


@app.cell
def _(job, mo, sd, studio):
    job_b = studio.submit(
        sd.TextToVideo("A golden retriever running on the beach at sunrise", duration=5),
        label="sunrise",
    )
    studio.wait([job, job_b])  # blocks this cell only; the cards above keep updating
    mo.hstack([sd.widgets.TaskView(job), sd.widgets.TaskView(job_b)], widths="equal")
    return (job_b,)


@app.cell
def _(job, job_b, mo, studio):
    def _vote(winner, loser):
        def cast(count):
            studio.ledger.vote("marimo-quickstart", winner.id, [loser.id])
            return (count or 0) + 1

        return cast

    prefer_a = mo.ui.button(
        label=f"prefer {job.label or 'A'}", value=0, on_click=_vote(job, job_b)
    )
    prefer_b = mo.ui.button(
        label=f"prefer {job_b.label or 'B'}", value=0, on_click=_vote(job_b, job)
    )
    mo.hstack([prefer_a, prefer_b], justify="start")
    return prefer_a, prefer_b


@app.cell
def _(prefer_a, prefer_b, studio):
    prefer_a.value, prefer_b.value  # re-ranked after every vote
    studio.results()
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    Every submission is a row in the ledger, with what it was estimated to cost and what it
    cost. The command line (`seedance-nb status`) reads the same ledger.
    """)
    return


@app.cell
def _(job_b, studio):
    job_b  # re-read once the comparison's jobs exist
    studio.ledger.df[["experiment", "label", "status", "estimated_credits", "credits_used"]]
    return


@app.cell
def _(job_b, studio):
    job_b
    studio.ledger.summary()
    return


if __name__ == "__main__":
    app.run()
