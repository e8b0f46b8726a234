"""Hypothesis strategies for provider scenarios, and how each becomes the mock's fault rules.

A ``Scenario`` is what one run of a client meets: how the job ends, how long it queues, how many
429s (with which Retry-After) and transient 5xx the status endpoint answers first, whether the
submit is refused for credits, and whether responses carry fields the client has never seen.
Hypothesis shrinks a failing scenario towards the plainest one (succeeds, no faults), so a
failure report shows the one thing the client cannot take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from contracts.flows import FLOWS, Flow

JOB_ACTIONS = {"succeeded": "queue", "failed": "fail", "errored": "error", "blocked": "block"}


@dataclass(frozen=True)
class Scenario:
    provider: str
    outcome: str = "succeeded"  # succeeded, failed, errored, blocked (what the provider can show)
    queue_wait: float = 0.0  # seconds more in the queue (on the mock's clock)
    rate_limited: int = 0  # 429s on the status endpoint before it answers
    retry_after: int = 1
    transient_errors: int = 0  # 503s on the status endpoint after those
    out_of_credits: bool = False  # the submit is refused with the provider's credits error
    extra_fields: bool = False  # responses carry unknown fields

    @property
    def flow(self) -> Flow:
        return FLOWS[self.provider]

    @property
    def should_succeed(self) -> bool:
        return self.outcome == "succeeded" and not self.out_of_credits

    def rules(self) -> list[dict[str, Any]]:
        """The fault rules (``/__mock/faults``) that make this scenario happen, in firing order."""
        flow, rules = self.flow, []
        if self.out_of_credits:
            rules.append(
                {"operation": flow.submit_operation, "action": "status", "status": flow.credits_status, "times": 1}
            )
        rules.append(
            {
                "operation": flow.submit_operation,
                "action": JOB_ACTIONS[self.outcome],
                "delay": self.queue_wait,
                "times": 1,
            }
        )
        for operation in flow.poll_operations[:1]:  # the status endpoint
            if self.rate_limited:
                rules.append(
                    {
                        "operation": operation,
                        "action": "status",
                        "status": 429,
                        "retry_after": self.retry_after,
                        "times": self.rate_limited,
                    }
                )
            if self.transient_errors:
                rules.append(
                    {"operation": operation, "action": "status", "status": 503, "times": self.transient_errors}
                )
        return [{"provider": self.provider, **rule} for rule in rules]

    def describe(self) -> str:
        parts = [f"{self.provider}: job {self.outcome}"]
        if self.queue_wait:
            parts.append(f"queued {self.queue_wait:g}s longer")
        if self.rate_limited:
            parts.append(f"{self.rate_limited}x 429 (Retry-After {self.retry_after})")
        if self.transient_errors:
            parts.append(f"{self.transient_errors}x 503")
        if self.out_of_credits:
            parts.append(f"submit refused {self.flow.credits_status} (credits)")
        if self.extra_fields:
            parts.append("unknown fields in responses")
        return ", ".join(parts)


def essential(provider: str) -> list[Scenario]:
    """One scenario per documented hard case, tried before the generated ones (so every run covers them)."""
    flow = FLOWS[provider]
    return [
        Scenario(provider),
        *(Scenario(provider, outcome=outcome) for outcome in flow.outcomes if outcome != "succeeded"),
        Scenario(provider, queue_wait=300.0),
        Scenario(provider, rate_limited=2, retry_after=7),
        Scenario(provider, transient_errors=2),
        Scenario(provider, out_of_credits=True),
        Scenario(provider, extra_fields=True),
    ]


def scenarios(provider: str) -> st.SearchStrategy[Scenario]:
    """Every scenario a client of `provider` should survive."""
    flow = FLOWS[provider]
    return st.builds(
        Scenario,
        provider=st.just(provider),
        outcome=st.sampled_from(flow.outcomes),
        queue_wait=st.sampled_from([0.0, 5.0, 30.0, 300.0]),
        rate_limited=st.integers(0, 3),
        retry_after=st.integers(1, 30),
        transient_errors=st.integers(0, 2),
        out_of_credits=st.booleans(),
        extra_fields=st.booleans(),
    )
