"""The Great Expectations suite over per-file statistics, and a readable summary of its failures.

GX runs in an ephemeral context with analytics off; it is imported only here, so only this step pays for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["ValidationOutcome", "run_expectations"]


@dataclass
class ValidationOutcome:
    """The verdict, one line per problem (naming the file), and GX's full result as JSON."""

    success: bool
    problems: list[str]
    report: dict[str, Any]
    evaluated: int
    failed: int


def _suite(p: dict[str, Any]) -> list[tuple[Any, str]]:
    """(expectation, what it means when it fails) pairs built from the validate params."""
    import great_expectations.expectations as gxe

    from soundsafe.payload.serialize import MAX_PAYLOAD_BYTES

    return [
        (gxe.ExpectTableRowCountToBeBetween(min_value=1), "the manifest has no tracks"),
        (gxe.ExpectColumnValuesToNotBeNull(column="track_id"), "track has no ID"),
        (gxe.ExpectColumnValuesToBeUnique(column="track_id"), "duplicate track ID"),
        (gxe.ExpectColumnValuesToBeInSet(column="split", value_set=["train", "val", "test"]),
         "split must be train, val or test"),
        (gxe.ExpectColumnValuesToBeInSet(column="readable", value_set=[True]), "file is missing or not decodable"),
        (gxe.ExpectColumnValuesToBeInSet(column="checksum_ok", value_set=[True]),
         "file content does not match the manifest's SHA-256"),
        (gxe.ExpectColumnValuesToBeInSet(column="matches_manifest", value_set=[True]),
         "rate, channels or length differ from the manifest"),
        (gxe.ExpectColumnValuesToBeInSet(column="sample_rate", value_set=[p["sample_rate"]]),
         f"sample rate must be {p['sample_rate']} Hz"),
        (gxe.ExpectColumnValuesToBeInSet(column="channels", value_set=list(p["channels"])),
         f"channel count must be one of {list(p['channels'])}"),
        (gxe.ExpectColumnValuesToBeBetween(column="duration_s", min_value=p["min_seconds"],
                                           max_value=p["max_seconds"]),
         f"duration must be {p['min_seconds']}–{p['max_seconds']} s"),
        (gxe.ExpectColumnValuesToBeBetween(column="nonfinite_samples", min_value=0, max_value=0),
         "audio contains NaN or Inf samples"),
        (gxe.ExpectColumnValuesToBeBetween(column="peak", min_value=0.0, max_value=1.0), "peak above full scale"),
        (gxe.ExpectColumnValuesToBeBetween(column="clip_ratio", min_value=0.0, max_value=p["max_clip_ratio"]),
         f"more than {p['max_clip_ratio']:.2%} of samples clipped"),
        (gxe.ExpectColumnValuesToBeBetween(column="silence_ratio", min_value=0.0,
                                           max_value=p["max_silence_ratio"]),
         f"more than {p['max_silence_ratio']:.0%} silent (below {p['silence_dbfs']} dBFS)"),
        (gxe.ExpectColumnValuesToBeInSet(column="metadata_ok", value_set=[True]), "metadata record is invalid"),
        (gxe.ExpectColumnValuesToBeBetween(column="payload_bytes", min_value=1, max_value=MAX_PAYLOAD_BYTES),
         f"serialized metadata is over the {MAX_PAYLOAD_BYTES:,}-byte payload limit"),
    ]


# Extra detail to print next to a failed check: the column that says why.
_DETAIL = {"readable": "read_error", "metadata_ok": "metadata_problems"}


def run_expectations(stats: pd.DataFrame, p: dict[str, Any]) -> ValidationOutcome:
    """Validate the statistics table against the suite built from params ``p``."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    _quiet_progress_bars(context)
    batch_def = (context.data_sources.add_pandas("soundsafe").add_dataframe_asset("audio_stats")
                 .add_batch_definition_whole_dataframe("all"))
    suite = gx.ExpectationSuite(name="soundsafe_corpus")
    for expectation, meaning in _suite(p):
        expectation.meta = {"problem": meaning}
        suite.add_expectation(expectation)
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="corpus", data=batch_def, suite=suite))
    result = definition.run(
        batch_parameters={"dataframe": stats},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["path"]},
    )
    problems: list[str] = []
    by_path = stats.set_index("path") if stats["path"].is_unique else None
    failed = 0
    for item in result.results:
        if item.success:
            continue
        failed += 1
        config = item.expectation_config
        meaning = (config.meta or {}).get("problem", config.type)
        column = config.kwargs.get("column")
        unexpected = item.result.get("unexpected_index_list") or []
        if not unexpected:
            problems.append(f"(all files): {meaning}")
        for hit in unexpected:
            path = hit.get("path", "?")
            value = hit.get(column)
            detail = ""
            if column in _DETAIL and by_path is not None and path in by_path.index:
                detail = f": {by_path.at[path, _DETAIL[column]]}"
            elif column not in ("readable", "checksum_ok", "matches_manifest", "metadata_ok") and column:
                detail = f" ({column} = {value})"
            problems.append(f"{path}: {meaning}{detail}")
    return ValidationOutcome(bool(result.success), problems, result.to_json_dict(), len(result.results), failed)


def _quiet_progress_bars(context: Any) -> None:
    # GX draws a "Calculating Metrics" bar per expectation; our own bar already covers the slow part.
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):
        pass
