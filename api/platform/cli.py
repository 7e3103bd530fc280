"""What every operator command shares: input checked as the API checks it, one-line errors."""

from __future__ import annotations

import click
from marshmallow import ValidationError

from api.representations import timestamp


def validated(schema, data: dict) -> dict:
    """``data`` loaded by ``schema``; bad input is one line naming each problem."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{field}: {' '.join(messages(msgs))}" for field, msgs in exc.messages.items()
        )
        raise click.ClickException(f"invalid input: {problems}") from None


def messages(problems) -> list[str]:
    if isinstance(problems, dict):  # per-item errors of a list, e.g. one bad scope
        return [m for inner in problems.values() for m in messages(inner)]
    return [str(m) for m in problems]


def when(moment) -> str:
    return timestamp(moment) if moment is not None else "never"
