"""Rate limiting of item loops as 7.2's tools do it: `ratelimit` (a
sleep keeping calls under a rate) and time-of-day policies (a rate per
part of the day, e.g. `"0h30:10;6h45:2;20h00:8"`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

Policy = list[tuple[timedelta, float]]

DAY = timedelta(hours=24)


def ratelimit(run_time: float, max_rate: float, increment: float = 1,
              rate_buffer: float = 5, time_time: float | None = None) -> float:
    """Sleep as needed to keep calls under `max_rate` per second; returns
    the next `run_time` (milliseconds) to pass to the next call. At most
    `rate_buffer` seconds of unused rate are kept for bursts."""
    if max_rate <= 0 or increment <= 0:
        return run_time
    now = (time_time or time.time()) * 1000.0
    step = 1000.0 * increment / max_rate
    if now - run_time > rate_buffer * 1000.0:
        run_time = now
    elif run_time > now:
        time.sleep((run_time - now) / 1000.0)
    return run_time + step


def ratelimit_validate_policy(policy: Policy) -> bool:
    """True for a usable policy (sorted in place): (start of day, rate)
    pairs, at least one, starts within [0, 24h), rates >= 0; ValueError
    otherwise."""
    if not policy:
        raise ValueError("Policy must contain at least one rate")
    for entry in policy:
        if len(entry) < 2:
            raise ValueError("Ratelimit entries must be 2-tuples")
        if entry[0] < timedelta(0):
            raise ValueError("Start time cannot be negative")
        if entry[0] >= DAY:
            raise ValueError("Start time cannot be more than 24 hours")
        if entry[1] < 0:
            raise ValueError("Rate must be zero or positive")
    policy.sort()
    return True


def _time_of_day(moment: datetime) -> timedelta:
    return moment - datetime(moment.year, moment.month, moment.day,
                             tzinfo=moment.tzinfo)


def ratelimit_function_curr_rate(curr_date: datetime, policy: Policy) -> float:
    """The rate of a sorted policy at `curr_date`: that of the last part
    started today, else of the day's last part (it runs past midnight)."""
    now = _time_of_day(curr_date)
    current = policy[-1]
    for entry in policy:
        if entry[0] > now:
            break
        current = entry
    return current[1]


def ratelimit_function_next_rate(curr_date: datetime, policy: Policy
                                 ) -> tuple[float, datetime]:
    """(rate, date) of the next change of a sorted policy after
    `curr_date` (the first part of tomorrow after the day's last)."""
    midnight = curr_date - _time_of_day(curr_date)
    now = curr_date - midnight
    for start, rate in policy:
        if start > now:
            return rate, midnight + start
    return policy[0][1], midnight + DAY + policy[0][0]


def ratelimit_policy_from_string(policy_str: str) -> Policy:
    """`"10"` (all day) or `"0h30:10;6h45:2;..."` as a sorted policy;
    ValueError naming the part that cannot be read."""
    if ";" not in policy_str:
        try:
            return [(timedelta(0), int(policy_str))]
        except ValueError as err:
            raise ValueError(
                f"Unparseable rate limit '{policy_str}': {err}") from None
    policy = []
    for change in policy_str.split(";"):
        try:
            when, rate = change.split(":", 1)
            hours, minutes = when.split("h", 1)
            policy.append((timedelta(hours=int(hours), minutes=int(minutes)),
                           int(rate)))
        except ValueError as err:
            raise ValueError(
                f"Unparseable rate change '{change}': {err}") from None
    policy.sort()
    return policy


def ratelimit_function_build(policy: Policy | str) -> Callable[..., float]:
    """A `ratelimit` whose rate follows `policy` with the time of day (its
    `max_rate` argument is ignored)."""
    if isinstance(policy, str):
        policy = ratelimit_policy_from_string(policy)
    ratelimit_validate_policy(policy)

    def limiter(run_time: float, _max_rate=None, increment: float = 1,
                rate_buffer: float = 5) -> float:
        now = time.time()
        rate = ratelimit_function_curr_rate(datetime.fromtimestamp(now),
                                            limiter.policy)
        return ratelimit(run_time, rate, increment, rate_buffer, now)

    limiter.policy = policy
    return limiter
