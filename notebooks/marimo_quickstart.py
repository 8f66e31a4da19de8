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
def _(mo, sd):
    # the ledger and the videos go beside this notebook, wherever marimo was started
    studio = sd.Studio(
        experiment="marimo-quickstart",
        ledger=mo.notebook_dir() / "seedance-ledger.sqlite",
        outputs=mo.notebook_dir() / "outputs",
    )
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
def _(label, req, studio):
    job = studio.submit(req, label=label.value)
    job
    return (job,)


@app.cell
def _(job, mo, req, studio):
    # what the submit cell has made of this request after it ran (again): one row, one charge
    _mine = studio.ledger.rows(experiment="marimo-quickstart", prompt=req.prompt)
    mo.md(
        f"The submit cell gave job **#{job.id}**. This request has "
        f"<span id='sd-rows'>{len(_mine)}</span> submission(s) in the ledger, "
        f"<span id='sd-committed'>{sum(r['estimated_credits'] for r in _mine)}</span> "
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
    Try more with the builder: pick a mode, type a prompt, move the sliders and watch the
    estimate, press **Generate**. Each press submits once. The builder is a reactive value:
    the cell under it follows every edit and shows the builder's jobs as live cards.
    """)
    return


@app.cell
def _(mo, studio):
    builder = mo.ui.anywidget(studio.builder())
    builder
    return (builder,)


@app.cell
def _(builder, mo):
    # the request as the builder has it now (None while it cannot be sent), and its jobs
    mo.vstack([builder.value["request"], *builder.jobs])
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    Compare two prompts side by side: **play all** plays them in step, and a vote for the
    one you prefer (a button, or the keys 1 and 2) is a row in the ledger;
    `studio.results()` ranks the variants.
    """)
    return


@app.cell
def _(job, sd, studio):
    job_b = studio.submit(
        sd.TextToVideo("A golden retriever running on the beach at sunrise", duration=5),
        label="sunrise",
    )
    _ended = studio.wait([job, job_b])  # blocks this cell only; the cards keep updating
    return (job_b,)


@app.cell
def _(job, job_b, mo, studio):
    compare = mo.ui.anywidget(studio.compare([job, job_b]))
    compare
    return (compare,)


@app.cell
def _(compare, mo, studio):
    # a reactive value: every vote (or undo) in the grid re-runs this cell, which re-ranks
    mo.vstack([
        mo.md(f"<span id='sd-ballots'>{sum(compare.value['votes'])}</span> ballot(s) cast"),
        studio.results(),
    ])
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
