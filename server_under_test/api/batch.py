"""Validating batches item by item, so one bad item never sinks the good ones."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import InvalidInput
from .device_models import ItemProblem
from .errors import describe_validation_errors

__all__ = ["validate_items"]

M = TypeVar("M", bound=BaseModel)


@cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    # Building a validator is costly (and probes imports); one per item model is enough.
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def validate_items(
    raw: list[Any], model: type[M], limit: int | None, what: str
) -> tuple[list[tuple[int, M]], list[ItemProblem]]:
    """Good items with their index, and a problem for each bad one (``limit``: None = any)."""
    if limit is not None and len(raw) > limit:
        raise InvalidInput(f"At most {limit} {what} per request; got {len(raw)}. Split the batch.")
    try:
        # The common case, all valid, in one pass of the compiled validator.
        return list(enumerate(_list_adapter(model).validate_python(raw))), []
    except ValidationError:
        pass
    good: list[tuple[int, M]] = []
    bad: list[ItemProblem] = []
    for index, item in enumerate(raw):
        try:
            good.append((index, model.model_validate(item)))
        except ValidationError as exc:
            reasons = "; ".join(
                f"{d['field']}: {d['problem']}" for d in describe_validation_errors(exc.errors())
            )
            raw_id = item.get("id", item.get("sms_id")) if isinstance(item, dict) else None
            known_id = isinstance(raw_id, int) and not isinstance(raw_id, bool)
            bad.append(
                ItemProblem(
                    index=index, id=raw_id if known_id else None, error=f"Invalid item: {reasons}."
                )
            )
    return good, bad
