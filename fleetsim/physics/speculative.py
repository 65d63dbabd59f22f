"""Speculative decoding: a small draft model proposes tokens, the target model verifies them."""

from __future__ import annotations

from fleetsim._jit import jit


@jit
def expected_tokens_per_step(draft_tokens: float, acceptance_rate: float) -> float:
    """Return the expected tokens one verify step of the target model yields.

    Parameters
    ----------
    draft_tokens : float
        Tokens k the draft model proposes per step. [1]
    acceptance_rate : float
        Probability a that the target accepts a proposed token, independently per token. [1]

    Returns
    -------
    float
        :math:`(1 - a^{k+1}) / (1 - a)`: accepted tokens plus the one the target always adds
        (Leviathan et al., ICML 2023, arXiv:2211.17192, eq. 1); :math:`k + 1` at :math:`a = 1`. [1]
    """
    if acceptance_rate >= 1.0:
        return draft_tokens + 1.0
    return (1.0 - acceptance_rate ** (draft_tokens + 1.0)) / (1.0 - acceptance_rate)


@jit
def speculative_time_per_token(
    verify_step_time: float, draft_step_time: float, draft_tokens: float, acceptance_rate: float
) -> float:
    r"""Return the mean time per generated token of one sequence under speculative decoding.

    Parameters
    ----------
    verify_step_time : float
        Target model step over k + 1 tokens per sequence. [s]
    draft_step_time : float
        Draft model decode step (one token per sequence). [s]
    draft_tokens : float
        Tokens k proposed per step. [1]
    acceptance_rate : float
        Per-token acceptance probability a. [1]

    Returns
    -------
    float
        :math:`(t_{verify} + k \\, t_{draft}) / E(k, a)` (DESIGN.md section 3). [s]
    """
    step = verify_step_time + draft_tokens * draft_step_time
    return step / expected_tokens_per_step(draft_tokens, acceptance_rate)
