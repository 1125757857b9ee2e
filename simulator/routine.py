"""The household's daily routine: when it sleeps, when it is out, door and motion.

Times are handled as absolute hours since the start of the simulation and turned
into step indices only when painted onto the step grid.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from simulator.config import BLOCK_DAYS, SimConfig
from simulator.profiles import Profile, stream


@dataclasses.dataclass
class Timeline:
    """The step grid of one simulation run, plus the days drawn beyond it.

    Daily draws cover whole event blocks (plus one day for the last night), so
    what happens on a day never depends on how long the run is.
    """

    config: SimConfig

    def __post_init__(self) -> None:
        c = self.config
        self.step_min = c.step_minutes
        self.spd = c.steps_per_day
        self.n_steps = c.n_steps
        self.n_blocks = -(-c.days // BLOCK_DAYS)
        self.n_days_drawn = self.n_blocks * BLOCK_DAYS + 1
        self.t = np.arange(self.n_steps)
        self.hour = (self.t % self.spd) * (self.step_min / 60.0)
        self.t_days = self.t * (self.step_min / 1440.0)
        self.start_doy = c.start.timetuple().tm_yday - 1
        weekday0 = c.start.weekday()
        self.weekday = (weekday0 + np.arange(self.n_days_drawn)) % 7
        self.weekend = self.weekday >= 5

    def idx(self, hours) -> np.ndarray:
        """Step index of absolute hours since the start."""
        return np.floor(np.asarray(hours) * (60.0 / self.step_min) + 1e-9).astype(np.int64)

    def steps(self, minutes) -> np.ndarray:
        """A duration in minutes as a whole number of steps (at least one)."""
        return np.maximum(1, np.rint(np.asarray(minutes) / self.step_min)).astype(np.int64)

    def year_angle(self, days) -> np.ndarray:
        return 2 * np.pi * (self.start_doy + np.asarray(days)) / 365.25


def paint(n: int, starts, ends) -> np.ndarray:
    """Boolean mask of the union of [start, end) step intervals, clipped to [0, n)."""
    diff = np.zeros(n + 1, dtype=np.int32)
    s = np.clip(np.asarray(starts, dtype=np.int64), 0, n)
    e = np.clip(np.asarray(ends, dtype=np.int64), 0, n)
    keep = e > s
    np.add.at(diff, s[keep], 1)
    np.add.at(diff, e[keep], -1)
    return np.cumsum(diff[:-1]) > 0


@dataclasses.dataclass
class Routine:
    wake_h: np.ndarray  # per drawn day, absolute hours
    sleep_h: np.ndarray
    asleep: np.ndarray  # per step
    home: np.ndarray
    door: np.ndarray
    motion: np.ndarray
    normal_events: list[dict]

    @property
    def awake_home(self) -> np.ndarray:
        return self.home & ~self.asleep


def build_routine(tl: Timeline, prof: Profile, seed: int, hh: int) -> Routine:
    days = tl.n_days_drawn
    u = stream(seed, hh, "routine").random((days, 8))
    z = stream(seed, hh, "routine_z").standard_normal((days, 4))
    base = 24.0 * np.arange(days)
    we = tl.weekend
    wake = base + np.where(we, prof.wake_weekend, prof.wake_weekday) + prof.routine_jitter * z[:, 0]
    sleep = base + np.where(we, prof.sleep_weekend, prof.sleep_weekday) + prof.routine_jitter * z[:, 1]

    # Daytime outings: work on most weekdays, errands or trips otherwise.
    workday = ~we & (not prof.works_from_home) & (u[:, 0] > 0.07)
    errand = ~workday & (u[:, 1] < np.where(we, 0.5, 0.3))
    leave = np.where(workday, wake + prof.leave_after_wake + 0.2 * z[:, 2], base + 10 + 5 * u[:, 2])
    back = np.where(workday, base + prof.return_weekday + 0.5 * z[:, 3], leave + 1 + 4 * u[:, 3])
    leave = np.maximum(leave, wake + 0.25)
    back = np.minimum(back, sleep - 0.75)
    out = (workday | errand) & (back > leave + 0.25)

    # Friday and Saturday nights out: home around bedtime, a legit late door event.
    late = np.isin(tl.weekday, (4, 5)) & (u[:, 4] < 0.10)
    late_leave = base + 19.0 + 1.5 * u[:, 5]
    late_back = sleep + 0.25 + 1.0 * u[:, 6]
    sleep = np.where(late, late_back + 0.3 + 0.5 * u[:, 7], sleep)

    n = tl.n_steps
    night_starts = np.concatenate([[-1.0], sleep[:-1]])
    asleep = paint(n, tl.idx(np.maximum(night_starts, 0)), tl.idx(wake))
    away = paint(n, tl.idx(leave[out]), tl.idx(back[out])) | paint(n, tl.idx(late_leave[late]), tl.idx(late_back[late]))
    home = ~away
    asleep &= home

    door_idx = np.concatenate([tl.idx(x) for x in (leave[out], back[out], late_leave[late], late_back[late])])
    door_idx = door_idx[door_idx < n]
    step_u = stream(seed, hh, "routine_steps").random((n, 2))
    door = np.zeros(n)
    door[door_idx] = 1.0
    door[(step_u[:, 0] < 0.004) & home & ~asleep] = 1.0  # deliveries, garden, bins

    p_motion = np.where(asleep, 0.015, np.where(home, 0.45, 0.05 if prof.has_pet else 0.0))
    motion = (step_u[:, 1] < p_motion).astype(float)
    motion[door == 1.0] = 1.0

    normal_events = [
        {
            "event_type": "late_return",
            "kind": "normal",
            "anomaly_class": 0,
            "sensor": "door",
            "s": int(tl.idx(late_back[d])),
            "e": int(tl.idx(late_back[d])) + 1,
            "intensity": None,
            "description": "household returns from a night out around its usual bedtime",
            "key": (int(d), 0),
        }
        for d in np.flatnonzero(late)
    ]
    return Routine(wake, sleep, asleep, home, door, motion, normal_events)
