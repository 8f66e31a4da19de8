"""A/B results from the ledger's votes: wins, win rate and a Bradley-Terry ranking."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from ..ledger import Ledger


def results(ledger: Ledger, experiment: str, iterations: int = 200) -> pd.DataFrame:
    """One row per voted variant: label, prompt, wins and losses (ballots), win_rate, and the
    Bradley-Terry strength and rank fitted to every pairwise preference."""
    import pandas as pd

    votes = ledger.votes(experiment)
    columns = ["label", "prompt", "wins", "losses", "win_rate", "strength", "rank"]
    if votes.empty:
        return pd.DataFrame(columns=columns).rename_axis("id")
    ids = sorted(set(votes["winner"]) | set(votes["loser"]))
    ballots = votes.drop_duplicates("ballot")
    wins = ballots["winner"].value_counts().reindex(ids, fill_value=0)
    lost = votes.drop_duplicates(["ballot", "loser"])
    losses = lost["loser"].value_counts().reindex(ids, fill_value=0)
    pairs = votes.groupby(["winner", "loser"]).size()
    strength = dict.fromkeys(ids, 1.0)
    for _ in range(iterations):  # the MM algorithm for Bradley-Terry, with a +0.5 prior
        new = {}
        for i in ids:
            games = sum(
                (pairs.get((i, j), 0) + pairs.get((j, i), 0)) / (strength[i] + strength[j])
                for j in ids
                if j != i
            )
            pair_wins = sum(pairs.get((i, j), 0) for j in ids if j != i)
            new[i] = (pair_wins + 0.5) / games if games else strength[i]
        total = sum(new.values())
        strength = {i: v * len(ids) / total for i, v in new.items()}
    df = ledger.df
    table = pd.DataFrame(
        {
            "label": [df.at[i, "label"] if i in df.index else None for i in ids],
            "prompt": [df.at[i, "prompt"] if i in df.index else None for i in ids],
            "wins": wins.values,
            "losses": losses.values,
            "win_rate": wins.values / (wins.values + losses.values),
            "strength": [strength[i] for i in ids],
        },
        index=pd.Index(ids, name="id"),
    )
    table["rank"] = table["strength"].rank(ascending=False, method="min").astype(int)
    return table.sort_values("rank")


def tally(ledger: Ledger, experiment: str, ids: list[int]) -> dict[int, int]:
    """Ballots won by each of `ids` in `experiment` (0 for none): what a Compare shows."""
    votes = ledger.votes(experiment).drop_duplicates("ballot")
    wins = votes[votes["winner"].isin(ids)]["winner"].value_counts()
    return {i: int(wins.get(i, 0)) for i in ids}
