"""The compliance rule: targets, the statistic compared, and when data is too thin.

Defaults and the reasons for them are in ``docs/methodology.md``; every value
can be changed on the command line and in the configuration file. A rule
preset (``province``, ``vnnic``) sets the statistic and the minimums at once;
individual options override it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from qostool.config import DEFAULT_PRESET, RULE_PRESETS
from qostool.errors import UsageError
from qostool.schema import Technology


class Statistic(StrEnum):
    """What is compared with the target."""

    MEAN = "mean"
    MEDIAN = "median"
    SHARE = "share"


class Verdict(StrEnum):
    """The outcome for one group (commune, operator, technology, ...)."""

    MEETS = "meets_target"
    BELOW = "below_target"
    INSUFFICIENT = "insufficient_data"
    INCONCLUSIVE = "inconclusive"


#: Download targets in Mbps per technology. 4G: the national policy target.
DEFAULT_TARGETS: Final = {Technology.G4.value: 40.0, Technology.G5.value: 100.0}
#: Technology label of the roll-up over every cellular technology.
ALL: Final = "all"


@dataclass(frozen=True)
class Rule:
    """How a group's verdict is decided. See ``docs/methodology.md``."""

    targets: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    statistic: Statistic = Statistic.MEAN
    min_tests: int = 30
    min_devices: int = 5
    min_share: float = 0.8
    """With ``statistic = share``: the share of tests at or above the target needed."""
    confidence: float = 0.95
    peak_hours: tuple[int, int] = (19, 22)
    """Local hours [start, end) of the evening peak."""
    preset: str = DEFAULT_PRESET
    """The rule preset the statistic and minimums started from (options may override it)."""

    def __post_init__(self) -> None:
        if self.preset not in RULE_PRESETS:
            raise UsageError(
                f"unknown rule preset {self.preset!r}; presets: {', '.join(RULE_PRESETS)}",
                hint="e.g. --rule vnnic (docs/methodology.md, section 7)",
            )
        for tech, target in self.targets.items():
            if not target > 0:
                raise UsageError(
                    f"target for {tech} must be a positive speed in Mbps, not {target}",
                    hint="for example --target 4G=40",
                )
        if self.min_tests < 1 or self.min_devices < 0:
            raise UsageError(
                "--min-tests must be at least 1 and --min-devices at least 0",
                hint="the defaults are --min-tests 30 --min-devices 5",
            )
        if not 0 < self.min_share <= 1:
            raise UsageError(f"--min-share must be in (0, 1], not {self.min_share}")
        if not 0.5 <= self.confidence < 1:
            raise UsageError(
                f"--confidence must be in [0.5, 1), not {self.confidence}", hint="e.g. 0.95"
            )
        start, end = self.peak_hours
        if not 0 <= start < end <= 24:
            raise UsageError(f"peak hours must satisfy 0 <= start < end <= 24, not {start}-{end}")

    def to_dict(self) -> dict[str, object]:
        return {
            "preset": self.preset,
            "targets_mbps": dict(sorted(self.targets.items())),
            "statistic": self.statistic.value,
            "min_tests": self.min_tests,
            "min_devices": self.min_devices,
            "min_share": self.min_share,
            "confidence": self.confidence,
            "peak_hours": list(self.peak_hours),
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Rule:
        """The rule of an ``analysis.json`` (:meth:`to_dict`); missing terms: the defaults."""
        default = cls()
        start, end = stored.get("peak_hours", default.peak_hours)
        return cls(
            targets={str(k): float(v) for k, v in stored.get("targets_mbps", {}).items()}
            or dict(default.targets),
            statistic=Statistic(stored.get("statistic", default.statistic.value)),
            min_tests=int(stored.get("min_tests", default.min_tests)),
            min_devices=int(stored.get("min_devices", default.min_devices)),
            min_share=float(stored.get("min_share", default.min_share)),
            confidence=float(stored.get("confidence", default.confidence)),
            peak_hours=(int(start), int(end)),
            preset=str(stored.get("preset", default.preset)),
        )


def preset_rule(name: str, base: Rule) -> Rule:
    """``base`` under the rule preset ``name``: its statistic and minimums, the rest kept.

    What ``report --compare-rule`` compares with: the analysis's targets, share and
    confidence, with the other preset's statistic and minimums.
    """
    if name not in RULE_PRESETS:
        raise UsageError(
            f"unknown rule preset {name!r}; presets: {', '.join(RULE_PRESETS)}",
            hint="e.g. --compare-rule vnnic",
        )
    terms = RULE_PRESETS[name]
    return dataclasses.replace(
        base,
        preset=name,
        statistic=Statistic(terms["statistic"]),
        min_tests=int(terms["min_tests"]),
        min_devices=int(terms["min_devices"]),
    )


def stored_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as stored in ``analysis.json``, with the preset of one stored before presets.

    Such an analysis was made from the defaults, the ``province`` preset, and
    whatever options changed them (which its other terms record), so comparing
    it with the configuration does not call it different for the missing name.
    """
    return {"preset": DEFAULT_PRESET, **rule}


def parse_targets(options: list[str], base: Mapping[str, float] | None = None) -> dict[str, float]:
    """``["4G=40", "5G=100"]`` -> targets, on top of ``base`` (default: the defaults)."""
    targets = dict(DEFAULT_TARGETS if base is None else base)
    known = {t.value.lower(): t.value for t in Technology} | {ALL: ALL}
    for option in options:
        tech, sep, value = option.partition("=")
        canonical = known.get(tech.strip().lower())
        if not sep or canonical is None:
            raise UsageError(
                f"--target {option!r}: expected TECHNOLOGY=MBPS",
                hint=f"technologies: {', '.join(sorted(known.values()))}; e.g. --target 5G=100",
            )
        try:
            targets[canonical] = float(value)
        except ValueError:
            raise UsageError(
                f"--target {option!r}: {value!r} is not a number of Mbps", hint="e.g. 4G=40"
            ) from None
    return targets
