"""Android-exact SMS part splitting and counting (GSM-7 / UCS-2), standard library only."""

from __future__ import annotations

from smscodec.parts import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    GSM7_MULTI_PART_SEPTETS,
    GSM7_SINGLE_PART_SEPTETS,
    UCS2_MULTI_PART_UNITS,
    UCS2_SINGLE_PART_UNITS,
    Encoding,
    count_parts,
    encoding_of,
    reference_segment_count,
    septets,
    split_parts,
)

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "GSM7_MULTI_PART_SEPTETS",
    "GSM7_SINGLE_PART_SEPTETS",
    "UCS2_MULTI_PART_UNITS",
    "UCS2_SINGLE_PART_UNITS",
    "Encoding",
    "count_parts",
    "encoding_of",
    "reference_segment_count",
    "septets",
    "split_parts",
]
