"""The dated price table: which entry is in force at a moment, and whether that moment is peak.

Prices are data (``v4agent/data/prices.toml``), overridable by a user file. Everything here is pure
except ``load_price_table``, which reads the files.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from v4agent.core.config import Config
from v4agent.core.errors import ExitCode, V4AgentError

PER_TOKENS = Decimal(1_000_000)  # prices are quoted per million tokens


class PriceTableError(V4AgentError, exit_code=ExitCode.USAGE):
    """The price file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Rates:
    """USD per 1M tokens."""

    hit: Decimal
    miss: Decimal
    output: Decimal


@dataclass(frozen=True)
class ModelPrice:
    """One model's rates at peak and off-peak."""

    peak: Rates
    offpeak: Rates  # equal to ``peak`` where the entry has no time-of-day rule


@dataclass(frozen=True)
class PeakWindow:
    """A daily UTC time range of peak pricing, start inclusive."""

    start: time
    end: time  # exclusive; a window does not cross midnight

    def contains(self, moment: time) -> bool:
        """Whether the time of day ``moment`` falls in this window."""
        return self.start <= moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class PriceEntry:
    """One dated entry: an engine's per-model rates from ``start`` on, with its peak rules."""

    id: str
    engine: str
    start: datetime
    source: str
    models: Mapping[str, ModelPrice]
    aliases: Mapping[str, str] = field(default_factory=dict)
    peak_hours: tuple[PeakWindow, ...] = ()
    weekends_offpeak: bool = False

    def resolve(self, model: str) -> str:
        """The billed model name for ``model`` (aliases followed)."""
        return self.aliases.get(model, model)

    def price_for(self, model: str) -> ModelPrice | None:
        """The rates for ``model`` after following aliases, or None when this entry does not price it."""
        return self.models.get(self.resolve(model))

    @property
    def has_peak_rule(self) -> bool:
        """Whether the entry has peak windows (and so distinct peak and off-peak rates)."""
        return bool(self.peak_hours)

    def is_peak(self, at: datetime) -> bool:
        """Peak pricing applies at ``at``; entries without windows are never 'peak'."""
        if not self.peak_hours:
            return False
        moment = as_utc(at)
        if self.weekends_offpeak and moment.weekday() >= 5:
            return False
        clock = moment.time()
        return any(window.contains(clock) for window in self.peak_hours)


@dataclass(frozen=True)
class PriceTable:
    """All price entries in start order, the files they came from, and the GPU-hour rate for local engines."""

    entries: tuple[PriceEntry, ...]  # sorted by start
    sources: tuple[str, ...] = ()  # files the table was read from
    gpu_hour_usd: Decimal = Decimal(0)  # local engines: cost of one GPU hour

    def entry_at(self, at: datetime, engine: str = "deepseek") -> PriceEntry | None:
        """The entry in force at ``at`` for ``engine``: the last one that started at or before it."""
        moment = as_utc(at)
        found: PriceEntry | None = None
        for entry in self.entries:
            if entry.engine == engine and entry.start <= moment:
                found = entry
        return found

    def engines(self) -> frozenset[str]:
        """The engines that have at least one entry; calls on any other engine are priced as GPU time."""
        return frozenset(entry.engine for entry in self.entries)

    def is_peak(self, at: datetime, engine: str = "deepseek") -> bool:
        """Whether ``at`` is peak under the entry in force then for ``engine`` (False when none is)."""
        entry = self.entry_at(at, engine)
        return entry is not None and entry.is_peak(at)

    def next_change(self, at: datetime, engine: str = "deepseek", *, horizon_days: int = 8) -> datetime | None:
        """The first moment after ``at`` where peak/off-peak flips (None if it never does within the horizon)."""
        moment = as_utc(at)
        current = self.is_peak(moment, engine)
        for candidate in self._boundaries(moment, engine, horizon_days):
            if self.is_peak(candidate, engine) != current:
                return candidate
        return None

    def next_offpeak_start(self, at: datetime, engine: str = "deepseek") -> datetime | None:
        """When the next off-peak window starts; ``at`` itself if it is off-peak now."""
        if not self.is_peak(at, engine):
            return as_utc(at)
        return self.next_change(at, engine)

    def _boundaries(self, moment: datetime, engine: str, horizon_days: int) -> list[datetime]:
        points: set[datetime] = set()
        first_day = moment.date()
        for offset in range(horizon_days + 1):
            day = first_day + timedelta(days=offset)
            points.add(_at(day, time(0, 0)))
            for entry in self.entries:
                if entry.engine != engine:
                    continue
                for window in entry.peak_hours:
                    points.add(_at(day, window.start))
                    points.add(_at(day, window.end))
        points.update(e.start for e in self.entries if e.engine == engine)
        return sorted(p for p in points if p > moment)


def as_utc(at: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the ledger stores UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=UTC)


def _decimal(raw: Any, where: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise PriceTableError(f"{where}: expected a number, got {raw!r}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise PriceTableError(f"{where}: expected a number, got {raw!r}") from None
    if value < 0:
        raise PriceTableError(f"{where}: must not be negative")
    return value


def _rates(raw: Any, where: str) -> Rates:
    if not isinstance(raw, Mapping):
        raise PriceTableError(f"{where}: expected a table with hit, miss, output")
    missing = [k for k in ("hit", "miss", "output") if k not in raw]
    if missing:
        raise PriceTableError(f"{where}: missing {', '.join(missing)}")
    return Rates(*(_decimal(raw[k], f"{where}.{k}") for k in ("hit", "miss", "output")))


def _window(raw: Any, where: str) -> PeakWindow:
    try:
        start_text, end_text = str(raw).split("-")
        start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError:
        raise PriceTableError(f"{where}: expected 'HH:MM-HH:MM', got {raw!r}") from None
    if end <= start:
        raise PriceTableError(f"{where}: window {raw!r} must end after it starts (split windows at midnight)")
    return PeakWindow(start, end)


def parse_entry(raw: Mapping[str, Any], where: str) -> PriceEntry:
    """One ``[[entry]]`` table into a PriceEntry, or PriceTableError naming what is wrong."""
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not entry_id:
        raise PriceTableError(f"{where}: every entry needs an 'id' string")
    where = f"{where}: entry '{entry_id}'"
    start = raw.get("start")
    if isinstance(start, date) and not isinstance(start, datetime):
        start = datetime.combine(start, time(0, 0))
    if not isinstance(start, datetime):
        raise PriceTableError(f"{where}: 'start' must be a TOML date-time such as 2026-09-10T00:00:00Z")
    models_raw = raw.get("models", {})
    if not isinstance(models_raw, Mapping):
        raise PriceTableError(f"{where}: 'models' must be a table")
    models: dict[str, ModelPrice] = {}
    for name, prices in models_raw.items():
        peak = _rates(prices, f"{where}: models.{name}")
        off_raw = prices.get("offpeak")
        offpeak = _rates(off_raw, f"{where}: models.{name}.offpeak") if off_raw is not None else peak
        models[str(name)] = ModelPrice(peak, offpeak)
    aliases = raw.get("aliases", {})
    if not isinstance(aliases, Mapping) or not all(isinstance(v, str) for v in aliases.values()):
        raise PriceTableError(f"{where}: 'aliases' must map names to names")
    windows = raw.get("peak_hours_utc", [])
    if not isinstance(windows, list):
        raise PriceTableError(f"{where}: 'peak_hours_utc' must be a list")
    return PriceEntry(
        id=entry_id,
        engine=str(raw.get("engine", "deepseek")),
        start=as_utc(start),
        source=str(raw.get("source", "")),
        models=models,
        aliases={str(k): v for k, v in aliases.items()},
        peak_hours=tuple(_window(w, f"{where}: peak_hours_utc") for w in windows),
        weekends_offpeak=bool(raw.get("weekends_offpeak", False)),
    )


def parse_table(text: str, where: str) -> list[PriceEntry]:
    """The entries of one price file's TOML text; ``where`` names the file in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceTableError(f"{where}: invalid TOML: {exc}") from None
    raw_entries = data.get("entry", [])
    if not isinstance(raw_entries, list):
        raise PriceTableError(f"{where}: expected [[entry]] tables")
    return [parse_entry(raw, where) for raw in raw_entries]


def merge_entries(base: Sequence[PriceEntry], override: Sequence[PriceEntry]) -> tuple[PriceEntry, ...]:
    """Override entries replace base entries with the same id; the result is sorted by start."""
    by_id = {entry.id: entry for entry in base}
    by_id.update({entry.id: entry for entry in override})
    return tuple(sorted(by_id.values(), key=lambda e: (e.start, e.id)))


def shipped_prices_text() -> str:
    """The text of the price table shipped inside the package."""
    return resources.files("v4agent").joinpath("data/prices.toml").read_text(encoding="utf-8")


def load_price_table(override: Path | None = None, *, gpu_hour_usd: float = 0.0) -> PriceTable:
    """The shipped table, merged with ``override`` (a user TOML file) when given."""
    entries = parse_table(shipped_prices_text(), "shipped prices.toml")
    sources = ["shipped prices.toml"]
    if override is not None:
        try:
            text = Path(override).read_text(encoding="utf-8")
        except OSError as exc:
            raise PriceTableError(f"{override}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise PriceTableError(f"{override}: not valid UTF-8") from None
        entries = list(merge_entries(entries, parse_table(text, str(override))))
        sources.append(str(override))
    return PriceTable(
        entries=merge_entries(entries, ()),
        sources=tuple(sources),
        gpu_hour_usd=_decimal(gpu_hour_usd, "gpu_hour_usd"),
    )


def price_table_for(config: Config, project_root: Path) -> PriceTable:
    """The shipped table merged with the configured ``prices_file`` (relative to the project) and GPU-hour rate.

    Every command prices through this, so ``v4agent cost`` and a session's own report agree."""
    prices_file = config.get("prices_file")
    override = None
    if prices_file:
        override = Path(prices_file).expanduser()
        if not override.is_absolute():
            override = project_root / override
    return load_price_table(override, gpu_hour_usd=float(config.get("gpu_hour_usd") or 0.0))
