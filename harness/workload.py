"""Recipients and message texts for a scenario's batches (Faker, Czech numbers, seeded)."""

from __future__ import annotations

from dataclasses import dataclass

from faker import Faker

from scenarios.model import Batch

__all__ = ["Recipient", "recipients_for", "texts_for", "written"]

_UNICODE_MARK = " 🙂"  # one emoji turns the whole message into UCS-2


@dataclass(frozen=True)
class Recipient:
    """A person to text: a number as people write it, and a first name."""

    number: str
    first_name: str
    name: str


def recipients_for(count: int, *, seed: int, salt: str, taken: set[str]) -> list[Recipient]:
    """``count`` recipients with Czech numbers, none of whose digits are in ``taken``.

    The numbers come in the formats Faker's cs_CZ locale writes (``+420 776 317 066``,
    ``00420 601 743 915``), so the server's normalisation is exercised too.
    """
    fake = Faker("cs_CZ")
    fake.seed_instance(f"{seed}:{salt}")
    out: list[Recipient] = []
    while len(out) < count:
        number = fake.phone_number()
        digits = "".join(ch for ch in number if ch.isdigit())[-9:]
        if digits in taken:
            continue
        taken.add(digits)
        first = fake.first_name()
        out.append(Recipient(number, first, f"{first} {fake.last_name()}"))
    return out


def texts_for(batch: Batch, recipients: list[Recipient]) -> list[str]:
    """The message of each recipient: the batch's templates in turn, filled in; a share
    (``unicode_share``, spread evenly) carries an emoji and goes out as UCS-2."""
    texts: list[str] = []
    every = round(1 / batch.unicode_share) if batch.unicode_share > 0 else 0
    for i, person in enumerate(recipients):
        template = batch.bodies[i % len(batch.bodies)]
        text = template.replace("{first_name}", person.first_name).replace("{name}", person.name)
        if every and i % every == every - 1:
            text += _UNICODE_MARK
        texts.append(text)
    return texts


def written(number: str, style: str) -> str:
    """``number`` (a Czech number as Faker writes it) in a batch's ``number_format``:
    ``mixed`` leaves it as it is; ``e164``, ``00`` and ``spaced`` rewrite it."""
    if style == "mixed":
        return number
    national = "".join(ch for ch in number if ch.isdigit())[-9:]
    if style == "e164":
        return f"+420{national}"
    if style == "00":
        return f"00420{national}"
    if style == "spaced":
        return f"+420 {national[:3]} {national[3:6]} {national[6:]}"
    raise ValueError(f"Unknown number format {style!r}.")
