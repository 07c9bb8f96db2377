"""A realistic media-library sync workload, for ``syncwatch demo`` and the desktop demo mode.

A demo that shows green forever teaches nothing: this model behaves like a household or
studio media library being synced, so that the indicators move the way they would in use.
Several agents (a NAS, a laptop camera roll, a video workstation, ...) receive jobs as a
Poisson stream of ``rate_ops_per_min``; each agent has its own bandwidth (shared by its
running transfers, drifting a little over time), a concurrency limit and a FIFO queue.
Photos are JPEG, HEIC or RAW with log-normal sizes of a few MB, videos log-normal from
tens of MB to several GB; deletes, metadata writes and folder scans are short jobs.
Now and then a camera import drops ``burst_size`` photos into one agent's queue at once.

Every attempt fails with probability ``error_rate_pct`` at a random point, with the error
texts agents really print; a failed job is retried (``failed -> in_progress``) after a
growing delay, up to ``max_attempts``. Because the health rule counts every failed attempt
against every completed one, the error rate it measures converges on ``error_rate_pct``:
below 5 % stays healthy, 5-10 % is a warning, above 10 % critical. More arrivals than the
agents can drain grow the queues past 10 active operations: a warning of its own.

Pure and deterministic: the random source and the time are passed in. Time advances in
fixed ticks of ``tick_s`` counted from the first instant, so the updates depend only on
the seed and the start, never on how often :meth:`Workload.advance` is called.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

from syncwatch.core.protocol import Status, SyncUpdate

_US: Final = 1_000_000
_MB: Final = 1_000_000

#: Job kinds: (operation_type, media) where media is "photo", "video" or None.
_KINDS: Final[dict[str, tuple[str, str | None]]] = {
    "upload_photo": ("upload", "photo"),
    "download_photo": ("download", "photo"),
    "upload_video": ("upload", "video"),
    "download_video": ("download", "video"),
    "delete": ("delete", None),
    "metadata": ("metadata", None),
    "scan": ("scan", None),
}


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """How one sync agent behaves: its link, its parallelism and what it is asked to do."""

    name: str
    #: Bytes per second shared by the agent's running transfers.
    bandwidth_bps: float
    #: Jobs running at once; the rest wait in the agent's queue.
    concurrency: int
    #: Relative share of the arrivals this agent receives.
    weight: float
    #: Job kind -> relative weight (kinds of ``_KINDS``).
    mix: tuple[tuple[str, float], ...]
    #: Whether camera imports (bursts) land on this agent.
    imports_photos: bool = False
    #: Median size of its videos in MB (phone clips are small, camera footage is not).
    video_median_mb: float = 400.0


#: The agents of the demo, in the order ``agents=N`` picks them (then cycled with "-2", ...).
PROFILES: Final[tuple[AgentProfile, ...]] = (
    AgentProfile(
        "nas-photos",
        80 * _MB,
        4,
        3.0,
        (("download_photo", 5), ("upload_photo", 3), ("metadata", 2), ("delete", 1), ("scan", 0.2)),
    ),
    AgentProfile(
        "laptop-camera-roll",
        8 * _MB,
        3,
        3.0,
        (("upload_photo", 8), ("upload_video", 0.3), ("metadata", 1), ("delete", 0.5)),
        imports_photos=True,
        video_median_mb=40.0,
    ),
    AgentProfile(
        "studio-video",
        110 * _MB,
        2,
        0.5,
        (("upload_video", 3), ("download_video", 2), ("metadata", 1), ("scan", 0.2)),
    ),
    AgentProfile(
        "phone-backup",
        4 * _MB,
        2,
        2.0,
        (("upload_photo", 6), ("upload_video", 0.3)),
        video_median_mb=30.0,
    ),
    AgentProfile(
        "archive-scanner", 150 * _MB, 1, 1.0, (("scan", 1), ("metadata", 3), ("delete", 1))
    ),
)

#: Failure texts by operation type, as sync agents print them.
ERRORS: Final[dict[str, tuple[str, ...]]] = {
    "upload": (
        "connection reset by peer",
        "quota exceeded",
        "file changed during upload",
        "permission denied",
        "timed out after 30 s waiting for the server",
    ),
    "download": (
        "connection reset by peer",
        "checksum mismatch",
        "permission denied",
        "no space left on device",
    ),
    "delete": ("permission denied", "file not found on the remote"),
    "metadata": ("permission denied", "file changed during metadata write"),
    "scan": ("permission denied", "input/output error"),
}

_PLACES: Final = ("Lisbon", "Kyoto", "Family", "Wedding", "Drone", "Interviews", "B-roll")
#: Photo formats: (extension, file-name prefix, median MB, log-normal sigma, weight).
_PHOTO_FORMATS: Final = (
    ("JPG", "IMG_", 3.5, 0.5, 4.0),
    ("HEIC", "IMG_", 2.2, 0.4, 4.0),
    ("CR3", "_MG_", 25.0, 0.3, 1.0),
    ("ARW", "DSC", 24.0, 0.3, 1.0),
)


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    """What the demo is asked to do (validated on creation)."""

    rate_ops_per_min: float = 30.0
    #: Probability in percent that one attempt fails.
    error_rate_pct: float = 2.0
    agents: int = 3
    #: Mean seconds between camera imports; None for none.
    burst_every_s: float | None = 1800.0
    burst_size: int = 200
    #: Attempts per job, the first included (a failure after the last is final).
    max_attempts: int = 3
    #: Probability in percent that a queued job is cancelled instead of started.
    cancel_rate_pct: float = 0.5
    #: Seconds between two progress reports of one running job.
    progress_interval_s: float = 1.0
    #: Simulation step in seconds.
    tick_s: float = 0.25

    def __post_init__(self) -> None:
        def number(name: str, low: float, high: float = math.inf) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not low <= value <= high or math.isnan(value):
                raise ValueError(f"{name} must be between {low} and {high}, got {value}")

        number("rate_ops_per_min", 0.0, 100_000.0)
        number("error_rate_pct", 0.0, 100.0)
        number("cancel_rate_pct", 0.0, 100.0)
        number("progress_interval_s", 0.01, 3600.0)
        number("tick_s", 0.001, 60.0)
        for name, low, high in (
            ("agents", 1, 100),
            ("burst_size", 1, 10_000),
            ("max_attempts", 1, 100),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(
                    f"{name} must be an integer between {low} and {high}, got {value!r}"
                )
        if self.burst_every_s is not None:
            number("burst_every_s", 1.0, 1e9)


def agent_profiles(count: int) -> tuple[AgentProfile, ...]:
    """The first ``count`` agents of PROFILES, cycled with a suffix beyond five."""
    out = []
    for i in range(count):
        base = PROFILES[i % len(PROFILES)]
        lap = i // len(PROFILES)
        out.append(base if lap == 0 else replace(base, name=f"{base.name}-{lap + 1}"))
    return tuple(out)


@dataclass(slots=True)
class _Job:
    """One operation's private simulation state (never leaves this module)."""

    op_id: str
    op_type: str
    item: str
    size: int | None  # bytes for transfers, None for jobs measured in time
    duration_s: float  # for non-transfers
    attempt: int = 0
    done: float = 0.0  # bytes, or seconds for non-transfers
    fail_at: float | None = None  # fraction at which this attempt fails
    last_report_us: int = 0
    retry_at_us: int = 0


@dataclass(slots=True)
class _Agent:
    profile: AgentProfile
    queue: deque[_Job] = field(default_factory=deque)
    running: list[_Job] = field(default_factory=list)
    retrying: list[_Job] = field(default_factory=list)
    speed_factor: float = 1.0
    file_number: int = 1000


class Workload:
    """The simulated agents; :meth:`advance` returns what they report up to a moment.

    Updates come without seq and with ``counter=None`` (the Reporter numbers them); their
    ``source`` is the agent's name, so a caller can route each to that agent's Reporter.
    """

    def __init__(
        self, config: WorkloadConfig, rng: random.Random, start_us: int | None = None
    ) -> None:
        #: The configuration and the only source of randomness.
        self.config = config
        self._rng = rng
        self._agents = [
            _Agent(p, file_number=rng.randint(1000, 8999)) for p in agent_profiles(config.agents)
        ]
        self._weights = [p.weight for p in (a.profile for a in self._agents)]
        #: Simulated time of the last tick run (None until the first advance fixes the start).
        self._clock_us: int | None = start_us
        self._tick_us = max(1, round(config.tick_s * _US))
        #: When the next job and the next import arrive.
        self._next_arrival_us = 0
        self._next_burst_us: int | None = None
        #: Numbers operations so that ids are unique within this run.
        self._serial = 0
        self._tag = ""
        if start_us is not None:
            self._begin(start_us)

    @property
    def agent_names(self) -> tuple[str, ...]:
        return tuple(a.profile.name for a in self._agents)

    @property
    def active_count(self) -> int:
        """Jobs queued or running now (what the health rule calls active operations)."""
        return sum(len(a.queue) + len(a.running) for a in self._agents)

    def _begin(self, start_us: int) -> None:
        self._clock_us = start_us
        # Ids carry the start second, so a second demo run does not reuse the first's ids.
        self._tag = _base36(start_us // _US % 36**6)
        self._next_arrival_us = start_us + self._arrival_gap_us()
        self._next_burst_us = self._burst_gap_us(start_us)

    def advance(self, now_us: int) -> list[SyncUpdate]:
        """Run every tick up to ``now_us`` and return the updates they produced, oldest
        first. The first call only fixes the start when none was given."""
        if self._clock_us is None:
            self._begin(now_us)
            return []
        out: list[SyncUpdate] = []
        while self._clock_us + self._tick_us <= now_us:
            self._clock_us += self._tick_us
            self._tick(self._clock_us, out)
        return out

    def skip_to(self, now_us: int) -> None:
        """Jump the clock to ``now_us`` without simulating the gap (after the machine was
        suspended, say): every pending arrival, import and retry moves by the same amount,
        so the agents resume where they were instead of replaying hours in one burst."""
        if self._clock_us is None:
            self._begin(now_us)
            return
        gap = (now_us - self._clock_us) // self._tick_us * self._tick_us
        if gap <= 0:
            return
        self._clock_us += gap
        self._next_arrival_us += gap
        if self._next_burst_us is not None:
            self._next_burst_us += gap
        for agent in self._agents:
            for job in agent.running:
                job.last_report_us += gap
            for job in agent.retrying:
                job.retry_at_us += gap

    # ------------------------------------------------------------------ one tick

    def _tick(self, now: int, out: list[SyncUpdate]) -> None:
        rng = self._rng
        while self._next_arrival_us <= now:
            agent = rng.choices(self._agents, self._weights)[0]
            self._enqueue(agent, self._new_job(agent, now), now, out)
            self._next_arrival_us += self._arrival_gap_us()
        if self._next_burst_us is not None and self._next_burst_us <= now:
            self._import_burst(now, out)
            self._next_burst_us = self._burst_gap_us(now)
        dt = self._tick_us / _US
        for agent in self._agents:
            agent.speed_factor = min(
                1.2, max(0.5, agent.speed_factor * math.exp(rng.gauss(0, 0.05)))
            )
            for job in [j for j in agent.retrying if j.retry_at_us <= now]:
                agent.retrying.remove(job)
                agent.queue.appendleft(job)  # a retry goes before new work
            self._start_jobs(agent, now, out)
            transfers = [j for j in agent.running if j.size is not None]
            share = agent.profile.bandwidth_bps * agent.speed_factor * dt / max(1, len(transfers))
            for job in list(agent.running):
                job.done += share if job.size is not None else dt
                self._step_job(agent, job, now, out)

    def _start_jobs(self, agent: _Agent, now: int, out: list[SyncUpdate]) -> None:
        rng = self._rng
        while agent.queue and len(agent.running) < agent.profile.concurrency:
            job = agent.queue.popleft()
            if job.attempt == 0 and rng.random() * 100 < self.config.cancel_rate_pct:
                out.append(self._update(agent, job, Status.CANCELLED, now))
                continue
            job.attempt += 1
            job.done = 0.0
            job.fail_at = (
                rng.uniform(0.02, 0.98) if rng.random() * 100 < self.config.error_rate_pct else None
            )
            job.last_report_us = now
            agent.running.append(job)
            out.append(self._update(agent, job, Status.IN_PROGRESS, now))

    def _step_job(self, agent: _Agent, job: _Job, now: int, out: list[SyncUpdate]) -> None:
        total = job.size if job.size is not None else job.duration_s
        fraction = min(1.0, job.done / total) if total > 0 else 1.0
        if job.fail_at is not None and fraction >= job.fail_at:
            job.done = total * job.fail_at
            agent.running.remove(job)
            error = self._rng.choice(ERRORS.get(job.op_type, ERRORS["upload"]))
            out.append(self._update(agent, job, Status.FAILED, now, error=error))
            if job.attempt < self.config.max_attempts:
                delay_s = 2.0**job.attempt * self._rng.uniform(1.0, 2.0)
                job.retry_at_us = now + round(delay_s * _US)
                agent.retrying.append(job)
        elif fraction >= 1.0:
            job.done = total
            agent.running.remove(job)
            out.append(self._update(agent, job, Status.COMPLETED, now))
        elif now - job.last_report_us >= self.config.progress_interval_s * _US:
            job.last_report_us = now
            out.append(self._update(agent, job, Status.IN_PROGRESS, now))

    def _enqueue(self, agent: _Agent, job: _Job, now: int, out: list[SyncUpdate]) -> None:
        agent.queue.append(job)
        out.append(self._update(agent, job, Status.QUEUED, now))

    def _import_burst(self, now: int, out: list[SyncUpdate]) -> None:
        """A camera card or phone import: ``burst_size`` photos queued at once."""
        importers = [a for a in self._agents if a.profile.imports_photos] or self._agents[:1]
        agent = self._rng.choice(importers)
        for _ in range(self.config.burst_size):
            self._enqueue(agent, self._new_job(agent, now, kind="upload_photo"), now, out)

    # ------------------------------------------------------------------ jobs and updates

    def _update(
        self, agent: _Agent, job: _Job, status: Status, now: int, error: str | None = None
    ) -> SyncUpdate:
        total = job.size if job.size is not None else job.duration_s
        if status is Status.QUEUED or status is Status.CANCELLED:
            done = 0.0
        elif status is Status.COMPLETED:
            done = total
        else:
            done = min(job.done, total)
        progress = round(100.0 * done / total, 1) if total > 0 else 100.0
        return SyncUpdate(
            operation_id=job.op_id,
            operation_type=job.op_type,
            status=status,
            progress=min(100.0, progress),
            timestamp_us=now,
            item=job.item,
            bytes_done=None if job.size is None else min(int(done), job.size),
            bytes_total=job.size,
            error=error,
            source=agent.profile.name,
        )

    def _new_job(self, agent: _Agent, now: int, kind: str | None = None) -> _Job:
        rng = self._rng
        if kind is None:
            kinds, weights = zip(*agent.profile.mix, strict=True)
            kind = rng.choices(kinds, weights)[0]
        op_type, media = _KINDS[kind]
        self._serial += 1
        op_id = f"{agent.profile.name}-{self._tag}-{self._serial:05d}"
        agent.file_number = agent.file_number % 9999 + 1
        when = datetime.fromtimestamp(now / _US, UTC)
        if media == "video" or (media is None and rng.random() < 0.3):
            item, size = self._video(when, agent.file_number, agent.profile.video_median_mb)
        else:
            item, size = self._photo(when, agent.file_number)
        duration = 0.0
        if media is not None:
            return _Job(op_id, op_type, item, size, duration)
        # Deletes, metadata writes and scans are measured in time, not bytes.
        if kind == "scan":
            item = item.rsplit("/", 1)[0] + "/"
            duration = min(600.0, rng.lognormvariate(math.log(6.0), 0.8))
        elif kind == "delete":
            duration = rng.uniform(0.1, 0.6)
        else:
            duration = rng.uniform(0.2, 2.0)
        return _Job(op_id, op_type, item, None, duration)

    def _photo(self, when: datetime, number: int) -> tuple[str, int]:
        rng = self._rng
        ext, prefix, median_mb, sigma, _ = rng.choices(
            _PHOTO_FORMATS, [f[4] for f in _PHOTO_FORMATS]
        )[0]
        if rng.random() < 0.2:  # an older photo being synced down or re-edited
            when = _months_before(when, rng.randint(1, 30))
        size = round(rng.lognormvariate(math.log(median_mb * _MB), sigma))
        digits = 5 if prefix == "DSC" else 4
        name = f"{prefix}{number % 10**digits:0{digits}d}.{ext}"
        return f"Photos/{when.year}/{when.month:02d}/{name}", max(50_000, size)

    def _video(self, when: datetime, number: int, median_mb: float) -> tuple[str, int]:
        rng = self._rng
        if rng.random() < 0.3:
            when = _months_before(when, rng.randint(1, 12))
        place = rng.choice(_PLACES)
        name = f"C{number:04d}.MP4" if rng.random() < 0.6 else f"IMG_{number:04d}.MOV"
        size = round(rng.lognormvariate(math.log(median_mb * _MB), 0.9))
        return f"Video/{when.year}-{when.month:02d} {place}/{name}", min(
            8_000 * _MB, max(5 * _MB, size)
        )

    def _arrival_gap_us(self) -> int:
        per_second = self.config.rate_ops_per_min / 60.0
        if per_second < 1e-9:  # zero, or less than one job in 30 years
            return 2**62
        return max(1, round(self._rng.expovariate(per_second) * _US))

    def _burst_gap_us(self, now: int) -> int | None:
        every = self.config.burst_every_s
        if every is None:
            return None
        return now + max(_US, round(self._rng.expovariate(1.0 / every) * _US))


def _months_before(when: datetime, months: int) -> datetime:
    index = when.year * 12 + when.month - 1 - months
    return when.replace(year=index // 12, month=index % 12 + 1, day=1)


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rem = divmod(value, 36)
        out = digits[rem] + out
        if value == 0:
            return out
