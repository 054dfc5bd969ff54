"""Replaying published training runs against the step model."""

from colossim.validation.runs import ValidationRow, reference_runs, validate

__all__ = ["ValidationRow", "reference_runs", "validate"]
