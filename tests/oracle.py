"""Plain-Python oracle of fleetsim's kernel: the same equations, written out independently.

Readable and slow. It takes one scenario in *config* units (as a user writes it) plus the
catalog, and returns the status code, the scenario outputs and the per-year outputs by name.
It does not import fleetsim's physics, fleet, layout or kernel modules; only the catalog loader
(input data) and the status codes.

Serving model (DESIGN.md section 3): a replica is ``pp`` stages of ``tp`` devices; within a stage
attention runs ``adp``-way data-parallel (groups of ``tp / adp`` devices, each with its own
sequences and its own copy of the dense weights) and routed experts ``ep``-way. A pass costs,
per kernel class (dense GEMMs, routed experts, attention), its memory stream *plus* its
multiply-adds, plus the collectives, the engine step overhead and the stage hand-offs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from fleetsim import status as st
from fleetsim.efficiency import ENGINES, MODEL_CLASSES

SECONDS_PER_YEAR = 8760 * 3600.0
BYTES = {
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5 + 2 / 128,
    "fp4": 0.5 + 1 / 16,  # NVFP4: an E4M3 scale per 16 elements
    "mxfp4": 0.5 + 1 / 32,  # MXFP4: an E8M0 scale per 32 elements
}
COMPUTE = {
    "bf16": "peak_flops_bf16",
    "fp8": "peak_flops_fp8",
    "int8": "peak_flops_int8",
    "int4": "peak_flops_bf16",
    "fp4": "peak_flops_fp4",
    "mxfp4": "peak_flops_fp4",
}
ACTIVATION_BYTES = 2.0
P99 = 0.99  # the quantile of the *_p99_s outputs


def _row(catalog, table, entry_id):
    t = catalog.tables[table]
    return dict(zip(t.columns, t.values[t.ids.index(entry_id)], strict=True))


def _z(q):
    """Standard-normal quantile; None (a bound on the mean) gives 0."""
    return 0.0 if q is None else NormalDist().inv_cdf(q)


def _allreduce(message, n, bw, alpha):
    if n <= 1:
        return 0.0
    return 2 * (n - 1) / n * message / bw + 2 * alpha  # reduce-scatter + all-gather, one step each


def _all_to_all(message, n, bw, alpha):
    if n <= 1:
        return 0.0
    return (n - 1) / n * message / bw + alpha  # each device keeps 1/n, sends the rest at once


def _expected_tokens(k, a):
    return (1 - a ** (k + 1)) / (1 - a)  # Leviathan et al. 2023, eq. 1


@dataclass(frozen=True)
class Layout:
    """One replica's layout and the hardware figures its step times use."""

    tp: int  # devices per pipeline stage
    pp: int  # pipeline stages
    adp: int  # attention data-parallel groups per stage
    ep: int  # expert-parallel degree
    hw: dict
    peak: float  # GEMM FLOP/s at the weights' precision (attention runs at BF16)
    b_w: float  # bytes per weight
    link: float  # collective bandwidth per device
    stage_link: float  # stage-to-stage bandwidth
    alpha: float  # per-hop latency
    overhead: float  # one engine step

    @property
    def group(self):
        """Devices of one attention group."""
        return self.tp / self.adp


@dataclass(frozen=True)
class Prompts:
    """What a request asks of the replica, and the speculative-decoding cycle."""

    c: float  # mean context of a decoding sequence (length-biased)
    computed: float  # prompt tokens not found in the prefix cache
    O: float  # output tokens
    k: int  # draft tokens per cycle (0: plain decoding)
    E: float  # tokens a sequence gains per cycle
    f_attn: float  # a prompt's attention FLOPs in the target model
    f_attn_draft: float  # ... and in the draft


def _prompt_attention_flops(S, C, m, cv):
    """Causal attention of the new tokens: token i attends to i tokens, E[S^2] = S^2 (1 + cv^2).

    On bounded layers (windows, sparse selection) token i attends to min(i, span): summed (as an
    integral) that is i^2/2 up to the span and linear beyond it, where the spread no longer
    raises the mean.
    """
    w = m["attention_span"]

    def bounded(x):
        return x * x / 2 if x <= w else w * x - w * w / 2

    full = m["attention_flops_per_context_token"] * 0.5 * (S * S - C * C) * (1 + cv * cv)
    spread = 1.0 if w < S else 1 + cv * cv
    part = m["bounded_attention_flops_per_context_token"] * (bounded(S) - bounded(C)) * spread
    return full + part


def _kv_held(m, n):
    """KV elements a sequence of n tokens holds: windows keep their last span tokens only."""
    bounded = n if m["bounded_kv_kept"] else min(n, m["attention_span"])
    return m["kv_elements_per_token"] * n + m["bounded_kv_elements_per_token"] * bounded


def _kv_read_per_token(m, c):
    """KV elements one decode token reads at context c, per context token."""
    span = min(c, m["attention_span"])
    return m["kv_elements_per_token"] + m["bounded_kv_elements_per_token"] * span / c


def _attention_per_token(m, c):
    """Decode attention FLOPs at context c per context token (bounded part: min(c, span))."""
    span = min(c, m["attention_span"])
    bounded = m["bounded_attention_flops_per_context_token"] * span / c
    return m["attention_flops_per_context_token"] + bounded


def _kernel_class(moved, flops, peak, hw):
    """A kernel class streams its bytes and does its math; the two times add."""
    stream = moved / (hw["hbm_bandwidth"] * hw["bandwidth_efficiency"])
    return stream + flops / (peak * hw["compute_efficiency"])


def _straggler(assignments, ep):
    """Busiest of ep bins over the mean, balls into bins: 1 + sqrt(2 ln n / mean)."""
    if ep <= 1:
        return 1.0
    return 1 + math.sqrt(2 * math.log(ep) / max(assignments / ep, 1.0))


def _stage(tokens, seqs, c, f_prompt, m, kv_tok, lay):
    """One device's time for one pass of one stage (1/pp of the layers).

    ``tokens`` cross the stage, ``seqs`` of them decoding sequences at context ``c``; ``f_prompt``
    is the prompt tokens' attention FLOPs over the whole model.
    """
    share = 1 / lay.pp  # of the layers
    routed_per_token = m["moe_layers"] * m["moe_top_k"] * m["expert_params"]
    # dense GEMMs: each attention group holds the dense weights, split over its devices
    # activations outside the weights: residual-width ones on every device of a group, the rest
    # split over the group
    activations = (
        (m["activation_elements_per_token"] + m["split_activation_elements_per_token"] / lay.group)
        * ACTIVATION_BYTES
        * share
        * tokens
        / lay.adp
    )
    dense = _kernel_class(
        share * m["dense_params"] * lay.b_w / lay.group + activations,
        share * 2 * (m["active_params"] - routed_per_token) * tokens / lay.tp,
        lay.peak,
        lay.hw,
    )
    # routed experts: the distinct experts the tokens hit, spread over all tp devices
    experts = 0.0
    n_exp, top_k = m["moe_experts"], m["moe_top_k"]
    if n_exp > 0:
        touched = n_exp * (1 - (1 - top_k / n_exp) ** tokens)
        # the busiest expert-parallel device's assignments set the math and the activations
        busiest = tokens * top_k / lay.tp * _straggler(tokens * top_k, lay.ep)
        width = m["expert_params"] / (3 * m["d_model"])  # SwiGLU: 3 d f_e parameters
        experts = _kernel_class(
            share * m["moe_layers"] * touched * m["expert_params"] * lay.b_w / lay.tp
            + share * m["moe_layers"] * busiest * (2 * m["d_model"] + 6 * width) * ACTIVATION_BYTES,
            share * 2 * m["moe_layers"] * m["expert_params"] * busiest,
            lay.peak,
            lay.hw,
        )
    # attention: a group attends for its own sequences; KV split by KV head (MLA: not at all)
    per_group = seqs / lay.adp
    group_flops = per_group * c * m["attention_flops_per_context_token"] + f_prompt / lay.adp
    attention = _kernel_class(
        share * per_group * c * kv_tok / min(lay.group, m["kv_shards"]),
        share * group_flops / lay.group,
        lay.hw["peak_flops_bf16"],
        lay.hw,
    )
    return dense + experts + attention


def _collectives(tokens, m, lay):
    """A stage's collectives: all-reduces within attention groups, and the MoE layers' exchange."""
    layers, moe = m["layers"] / lay.pp, m["moe_layers"] / lay.pp
    hidden = tokens * m["d_model"] * ACTIVATION_BYTES
    # after attention (every layer) and after a dense MLP: a group's 1/adp of the tokens
    in_group = _allreduce(hidden / lay.adp, lay.group, lay.link, lay.alpha)
    if lay.adp > 1 and lay.ep > 1:  # dispatch each token to its k experts and combine back
        exchange = 2 * _all_to_all(hidden * m["moe_top_k"] / lay.tp, lay.ep, lay.link, lay.alpha)
    else:  # one all-reduce (or all-gather + reduce-scatter) of the expert outputs over the stage
        exchange = _allreduce(hidden, lay.tp, lay.link, lay.alpha)
    return layers * in_group + (layers - moe) * in_group + moe * exchange


def _handoff(tokens, m, lay):
    """Point-to-point activation sends at the pp - 1 stage boundaries."""
    if lay.pp <= 1:
        return 0.0
    return (lay.pp - 1) * (lay.alpha + tokens * m["d_model"] * ACTIVATION_BYTES / lay.stage_link)


def _step(batch, c, prompt_tokens, f_prompt, m, kv_tok, lay):
    """One engine step of ``batch`` decoding sequences carrying ``prompt_tokens`` prompt tokens."""
    micro = batch / lay.pp if batch >= lay.pp else min(batch, 1)  # B < pp: a pipeline bubble
    tokens = micro + prompt_tokens / lay.pp  # per micro-batch
    stage = _stage(tokens, micro, c, f_prompt / lay.pp, m, kv_tok, lay)
    # pp micro-batches, one engine step each
    return lay.pp * (stage + _collectives(tokens, m, lay) + lay.overhead) + _handoff(tokens, m, lay)


def _scaleup_link(hw: dict, peers: int) -> float:
    """Scale-up bandwidth towards ``peers`` devices: all of it when switched (no peer link given),
    ``peers`` direct links of a full mesh otherwise."""
    peer = hw.get("scaleup_peer_bandwidth", 0.0)
    if not peer > 0:
        return hw["scaleup_bandwidth"]
    return min(hw["scaleup_bandwidth"], max(peers, 1) * peer)


def _prefill_alone(computed, f_attn, m, kv_tok, lay):
    """A whole prompt in passes of its own; every attention group prefills one at the same time."""
    if computed <= 0:
        return 0.0
    n = computed * lay.adp
    stage = _stage(n, 0, 0, f_attn * lay.adp, m, kv_tok, lay)
    return lay.pp * (stage + _collectives(n, m, lay) + lay.overhead) + _handoff(n, m, lay)


def _token_time(batch, prompts, m, d, kv_tok, kv_d, lay, w, stall):
    """Mean time between a sequence's output tokens at ``batch`` sequences.

    A cycle is k draft steps and one target step verifying k + 1 tokens per sequence (the KV is
    read once for them); it yields E tokens. ``prompts`` prompts ride in the cycle (chunked
    prefill); a whole prompt instead stalls the batch for ``stall``, B / O of them per token.
    """
    cycle = _step(
        batch * (w.k + 1), w.c, prompts * w.computed, prompts * w.f_attn, m, kv_tok / (w.k + 1), lay
    )
    if w.k > 0:
        cycle += w.k * _step(
            batch, w.c, prompts * w.computed / w.k, prompts * w.f_attn_draft / w.k, d, kv_d, lay
        )
    return cycle / w.E + batch * stall / w.O


def _mg1_wait(r, s, cv, q):
    """M/G/1 wait at prefill-path load r: Pollaczek-Khinchine mean, or its q-quantile under the
    exponential tail P(W > t) = C exp(-x t / s) with x the Cramer-Lundberg root of
    r (M(x) - 1) = x (M: the MGF of a deterministic or gamma service, found here by bisection)
    and C = x W / s matching the mean."""
    if r >= 1:
        return math.inf
    mean = r * s * (1 + cv * cv) / (2 * (1 - r))
    if q is None:
        return mean
    if r <= 0:
        return 0.0
    c2 = cv * cv

    def excess(x):  # r (M(x) - 1) - x, M the service's MGF (inf where it overflows)
        if c2 > 0 and 1 - c2 * x <= 0:
            return math.inf
        exponent = x if c2 == 0 else -math.log1p(-c2 * x) / c2
        return math.inf if exponent > 700 else r * math.expm1(exponent) - x

    lo, hi = 0.0, (1 / c2 if c2 > 0 else 1.0)  # excess < 0 just above 0, > 0 near the pole
    while c2 == 0 and excess(hi) <= 0:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(mid) <= 0 else (lo, mid)
    weight = lo * mean / s
    return 0.0 if weight <= 1 - q else s / lo * math.log(weight / (1 - q))


def _slot_wait(rho, c, life, factor, q):
    """Wait for one of c sequence slots (M/G/c): Erlang C up to 64 slots, beyond it Halfin-Whitt's
    P_W = 1 / (1 + beta Phi(beta) / phi(beta)) with beta = (1 - rho) sqrt(c); the M/M/c tail
    P(W > t) = P_W exp(-c (1 - rho) t / life), times the Lee-Longton factor; mean for q None."""
    if rho >= 1:
        return math.inf
    if c <= 64:  # Erlang C of whole slots
        c = max(math.floor(c), 1)
        b = 1.0
        for k in range(1, c + 1):
            b = rho * c * b / (k + rho * c * b)
        p_wait = b / (1 - rho * (1 - b))
    else:  # Halfin-Whitt
        beta = (1 - rho) * math.sqrt(c)
        normal = NormalDist()
        p_wait = 1 / (1 + beta * normal.cdf(beta) / normal.pdf(beta)) if beta < 30 else 0.0
    scale = factor * life / (c * (1 - rho))
    if q is None:
        return p_wait * scale
    return 0.0 if p_wait <= 1 - q else scale * math.log(p_wait / (1 - q))


def _length_ratio(cv, q):
    """The q-th prompt over the mean, lengths lognormal with the given cv (None: the mean)."""
    if q is None or cv <= 0:
        return 1.0
    sigma = math.sqrt(math.log(1 + cv**2))
    return math.exp(_z(q) * sigma - sigma**2 / 2)


def derated_hardware(sc, catalog):
    """Return (hardware row, clock scale) after forcing facility.servers_per_rack."""
    hw = _row(catalog, "hardware", sc["hardware"])
    density = sc["facility.servers_per_rack"]
    if density is None:
        return hw, 1.0
    rack = _row(catalog, "cooling", sc["facility.cooling"])["rack_power_limit"]
    cap = (rack / density - hw["server_overhead_power"]) / hw["accelerators_per_server"]
    if cap >= hw["tdp"]:
        return hw, 1.0
    if cap <= hw["idle_power"]:
        return hw, 0.0
    # dynamic power ~ f^3 under DVFS: the clock that fits the cap scales every peak FLOP/s
    scale = ((cap - hw["idle_power"]) / (hw["tdp"] - hw["idle_power"])) ** (1 / 3)
    hw = {k: v * scale if k.startswith("peak_flops_") else v for k, v in hw.items()}
    hw["tdp"] = cap
    return hw, scale


def _layouts(tp, sc, moe):
    """(adp, ep) pairs tried at ``tp``: as given; an MoE model with either auto first tries the
    DeepSeek layout (data-parallel attention, experts over the whole stage), then plain TP."""
    adp, ep = sc["deployment.attention_dp"], sc["deployment.ep"]
    plain = (1 if adp == "auto" else adp, 1 if ep == "auto" else ep)
    if not moe or "auto" not in (adp, ep) or tp <= 1:
        return [plain]
    return [(tp if adp == "auto" else adp, tp if ep == "auto" else ep), plain]


def search(sc, catalog, hw, at, objective):
    """Return (status, outputs) of the layout ``at(tp, pp, adp, ep)`` that ``objective`` ranks
    highest (the first of equals); ``auto`` tp / pp try 1, 2, 4, ... (tp <= domain), and
    ``auto`` attention_dp / ep the layouts of :func:`_layouts`. With none feasible, the last
    layout's status."""
    m = _row(catalog, "models", sc["model"])
    tps = [sc["deployment.tp"]]
    if sc["deployment.tp"] == "auto":
        tps = [2**i for i in range(7) if 2**i <= min(hw["scaleup_domain"], 64)]
    pps = [sc["deployment.pp"]]
    if sc["deployment.pp"] == "auto":
        pps = [pp for pp in (1, 2, 4, 8, 16) if pp <= m["layers"]]
    results = [
        at(tp, pp, adp, ep)
        for pp in pps
        for tp in tps
        for adp, ep in _layouts(tp, sc, m["moe_experts"] > 0)
    ]
    feasible = [r for r in results if r[0] == st.FEASIBLE]
    if not feasible:
        return results[-1]
    best = max(objective(r[1]) for r in feasible)
    return next(r for r in feasible if objective(r[1]) == best)


def replica(sc, catalog, hw):
    """Return (status, outputs) of one aggregated replica: the layout with the most tokens/s per
    accelerator at its planned utilisation."""
    return search(
        sc, catalog, hw, lambda tp, pp, adp, ep: replica_at(tp, pp, adp, ep, sc, catalog, hw),
        lambda o: o["tokens_per_s_per_accelerator"] * o["target_utilisation"],
    )  # fmt: skip


def _rows(sc, catalog, hw):
    """The model and draft rows (the model's without a draft), whether drafting, the fabric row,
    bytes per weight and KV element, and the peak FLOP/s computing the weights on ``hw``."""
    m = _row(catalog, "models", sc["model"])
    drafting = sc["deployment.draft_model"] is not None
    d = _row(catalog, "models", sc["deployment.draft_model"]) if drafting else m
    fb = _row(catalog, "fabrics", sc["network.fabric"])
    b_w, b_kv = BYTES[sc["deployment.weight_dtype"]], BYTES[sc["deployment.kv_dtype"]]
    peak = hw[COMPUTE[sc["deployment.weight_dtype"]]] or hw["peak_flops_bf16"]
    return m, d, drafting, fb, b_w, b_kv, peak


def _layout(tp, pp, adp, ep, m, prefix):
    """Return (FEASIBLE or why a tp x pp layout cannot hold model ``m``, its layout outputs
    named with ``prefix``)."""
    moe = m["moe_experts"] > 0
    out = {
        f"{prefix}tensor_parallel": tp,
        f"{prefix}pipeline_parallel": pp,
        f"{prefix}attention_data_parallel": adp,
        f"{prefix}expert_parallel": ep if moe else 1,
        f"{prefix}accelerators_per_replica": tp * pp,
    }
    if pp > m["layers"]:
        return st.MORE_STAGES_THAN_LAYERS, out
    if tp % adp != 0 or (moe and tp % ep != 0):
        return st.LAYOUT_NOT_DIVISIBLE, out
    return st.FEASIBLE, out


def _weights_held(m, draft, b_w, adp):
    """Weight bytes of a replica: every attention group keeps its own copy of the dense weights
    (the draft model's too, ``draft`` None without one)."""
    weights = (m["total_params"] + (draft["total_params"] if draft else 0)) * b_w
    dense = m["dense_params"] + (draft["dense_params"] if draft else 0)
    return weights + (adp - 1) * dense * b_w


def _engine_layout(tp, pp, adp, ep, sc, catalog, hw, hardware_id, fb, peak, b_w):
    """Return the Layout of a replica on ``hw`` (catalog id ``hardware_id``) with the engine's
    efficiency scale applied, or None where the engine does not run on it."""
    # the serving engine's and model class's efficiency scale (data/efficiency.csv), on both
    # fractions of peak, bandwidth capped at what a streaming kernel reaches
    scale = catalog.engine_scale[
        catalog.tables["hardware"].ids.index(hardware_id),
        ENGINES.index(sc["deployment.engine"]),
        MODEL_CLASSES.index(catalog.model_classes[catalog.tables["models"].ids.index(sc["model"])]),
    ]
    if not scale > 0:
        return None
    hw = {
        **hw,
        "compute_efficiency": min(hw["compute_efficiency"] * scale, 1.0),
        "bandwidth_efficiency": min(hw["bandwidth_efficiency"] * scale, 0.92),
    }
    domain = hw["scaleup_domain"]
    scaleout = hw["scaleout_bandwidth"] * fb["effective_bandwidth_frac"]
    return Layout(
        tp=tp, pp=pp, adp=adp, ep=ep, hw=hw, peak=peak, b_w=b_w,
        link=_scaleup_link(hw, tp - 1) if tp <= domain else scaleout,
        stage_link=_scaleup_link(hw, 1) if tp * pp <= domain else scaleout,
        alpha=sc["deployment.link_latency_s"], overhead=sc["deployment.step_overhead_s"],
    )  # fmt: skip


def replica_at(tp, pp, adp, ep, sc, catalog, hw):
    """Return (status, outputs) of a replica of tp x pp accelerators, adp x ep within a stage."""
    m, d, drafting, fb, b_w, b_kv, peak = _rows(sc, catalog, hw)
    S, O = sc["workload.input_tokens"], sc["workload.output_tokens"]
    C = S * sc["deployment.prefix_cache_hit_rate"]
    cv_in, cv_out = sc["workload.input_tokens_cv"], sc["workload.output_tokens_cv"]
    code, out = _layout(tp, pp, adp, ep, m, "")
    if code != st.FEASIBLE:
        return code, out
    group = tp // adp
    out["weight_bytes"] = _weights_held(m, d if drafting else None, b_w, adp)
    # a sequence in the batch is length-biased: it holds S + E[O^2]/E[O] tokens of KV and
    # decodes at the mean context S + E[O^2] / (2 E[O]); bounded layers see at most their span
    held = S + O * (1 + cv_out**2)
    c = S + O * (1 + cv_out**2) / 2
    kv_tok = _kv_read_per_token(m, c) * b_kv
    kv_d = _kv_read_per_token(d, c) * b_kv if drafting else 0.0
    # a group's devices split a sequence's KV by KV head; beyond the heads (MLA: one latent)
    # they hold copies
    out["kv_bytes_per_token"] = _kv_held(m, held) / held * b_kv * group / min(group, m["kv_shards"])
    if drafting:
        out["kv_bytes_per_token"] += (
            _kv_held(d, held) / held * b_kv * group / min(group, d["kv_shards"])
        )
    free = (
        tp * pp * hw["hbm_capacity"] * (1 - sc["deployment.memory_reserve_frac"])
        - out["weight_bytes"]
    )
    if free < 0:
        return st.WEIGHTS_DO_NOT_FIT, out
    if m["max_context"] < S + O:
        return st.CONTEXT_TOO_LONG, out
    b_max = math.floor(free / (held * out["kv_bytes_per_token"]))
    if b_max < 1:
        return st.KV_DOES_NOT_FIT, out
    b_max = b_max if sc["deployment.max_batch"] is None else min(b_max, sc["deployment.max_batch"])
    k = sc["deployment.draft_tokens"] if drafting else 0
    E = _expected_tokens(k, sc["deployment.acceptance_rate"]) if drafting else 1.0
    chunked = sc["deployment.prefill"] == "chunked"
    budget = sc["deployment.step_token_budget"]
    if chunked:  # decode tokens B (k + 1) plus prompt tokens B E (S - C) / O fit the budget
        by_budget = budget / (k + 1 + E * (S - C) / O)
        b_max = min(b_max, math.floor(by_budget) if by_budget >= 1 else by_budget)
    out["max_batch_size"] = b_max
    lay = _engine_layout(tp, pp, adp, ep, sc, catalog, hw, sc["hardware"], fb, peak, b_w)
    if lay is None:
        return st.ENGINE_NOT_AVAILABLE, out
    w = Prompts(
        c=S + O * (1 + cv_out**2) / 2, computed=S - C, O=O, k=k, E=E,
        f_attn=_prompt_attention_flops(S, C, m, cv_in),
        f_attn_draft=_prompt_attention_flops(S, C, d, cv_in) if drafting else 0.0,
    )  # fmt: skip
    # decode steps attend a_full c + a_bounded min(c, span): one coefficient at the mean context
    m = {**m, "attention_flops_per_context_token": _attention_per_token(m, c)}
    d = {**d, "attention_flops_per_context_token": _attention_per_token(d, c)}
    per_seq = E / O if chunked else 0.0  # prompts riding in each cycle, per sequence

    def whole(b):  # whole prompts: one pass over those waiting at a cycle's end, per group
        if chunked:  # (replica time per prompt, pass time)
            return 0.0, 0.0
        most = max(1.0, budget / (adp * (S - C))) if S > C else 1.0
        n = min(max(b * E / (O * adp), 1.0), most)
        t = _prefill_alone(n * (S - C), n * w.f_attn, m, kv_tok, lay)
        if drafting:  # the draft model prefills the prompts too
            t += _prefill_alone(n * (S - C), n * w.f_attn_draft, d, kv_d, lay)
        return t / (n * pp * adp), t

    def tpot(b):  # mean time per token at b sequences
        return _token_time(b, b * per_seq, m, d, kv_tok, kv_d, lay, w, whole(b)[0])

    def decode(b):  # mean time per token at b sequences, no prompts
        return _token_time(b, 0.0, m, d, kv_tok, kv_d, lay, w, 0.0)

    # spread of a request's TPOT: its life's mean occupancy varies by 2B/3 (Poisson occupancy
    # averaged over a life), and the B prompts arriving in it (Poisson) by B (1 + cv^2) in size
    slope = (decode(b_max) - decode(1)) / (b_max - 1) if b_max > 1 else 0.0
    if chunked:  # one prompt's chunks lengthen the cycles they ride in, per cycle E tokens
        riding = b_max * per_seq
        cost = _token_time(b_max, riding, m, d, kv_tok, kv_d, lay, w, 0.0) - decode(b_max)
        cost = cost / riding * E
    else:
        cost = whole(b_max)[0]

    def quantile(b, z):
        if z <= 0:
            return tpot(b)
        spread = slope**2 * 2 * b / 3 + cost**2 * b * (1 + cv_in**2) / O**2
        return tpot(b) + z * math.sqrt(spread)

    z = _z(sc["workload.tpot_quantile"])
    target = math.inf if sc["workload.tpot_slo_s"] is None else sc["workload.tpot_slo_s"]

    def meets(b):  # the TPOT quantile (or mean) at b sequences meets the target
        return quantile(b, z) <= target

    if meets(b_max):
        batch = b_max
    elif b_max <= 1 or not meets(1):
        return st.TPOT_UNREACHABLE, out
    else:  # bisection on a monotone function
        lo, hi = 1, b_max
        while hi - lo > 1:
            mid = math.floor((lo + hi) / 2)
            lo, hi = (mid, hi) if meets(mid) else (lo, mid)
        batch = lo
    tpot_b = tpot(batch)
    tau = O * tpot_b / batch  # replica time per request at full occupancy
    q = sc["workload.ttft_quantile"]  # None: the TTFT target bounds the mean
    longer, longer99 = _length_ratio(cv_in, q), _length_ratio(cv_in, P99)
    computed = S - C
    if chunked:
        # a prompt fills the budget the decode tokens leave: each of its cycles carries a full
        # chunk, or the whole prompt when it is shorter than one
        chunk = budget - batch * (k + 1)
        # prompts per cycle: a full chunk, or this prompt and the B E / O that arrive beside it
        riding = min(chunk, computed * (1 + batch * per_seq)) / computed
        full = _token_time(batch, riding, m, d, kv_tok, kv_d, lay, w, 0.0) * E
        s = computed / chunk * full  # mean prefill-path service per prompt

        def duration(ratio):
            return math.ceil(computed * ratio / chunk) * full

    else:
        s, t_pf = whole(batch)

        def duration(ratio):
            return t_pf * ratio

    # the prompt first waits out the step in progress: uniform over one cycle
    cycle = (tpot_b if chunked else _token_time(batch, 0.0, m, d, kv_tok, kv_d, lay, w, 0.0)) * E
    ttft_target = math.inf if sc["workload.ttft_slo_s"] is None else sc["workload.ttft_slo_s"]
    cap = sc["workload.max_utilisation"]
    slack = ttft_target - duration(longer) - (0.5 if q is None else q) * cycle
    if slack < 0:
        return st.TTFT_UNREACHABLE, out
    factor = (1 + cv_out**2) / 2  # Lee-Longton: M/G/c waits are (1 + c^2)/2 of M/M/c's

    def wait(rho, quant):  # a slot of the batch, then the prefill path
        slot = _slot_wait(rho, batch, tau * batch, factor, quant)
        return slot + (_mg1_wait(rho * s / tau, s, cv_in, quant) if s > 0 else 0.0)

    if math.isinf(slack) or wait(cap, q) <= slack:
        rho = cap
    else:  # the largest utilisation whose waits (at q) fit the slack, to full precision
        lo, hi = 0.0, cap
        while True:
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            lo, hi = (mid, hi) if wait(mid, q) <= slack else (lo, mid)
        rho = lo
    decode_only = _token_time(batch, 0.0, m, d, kv_tok, kv_d, lay, w, 0.0)
    out.update(
        batch_size=batch,
        tpot_s=tpot_b,
        tpot_p99_s=quantile(batch, _z(P99)),
        prefill_time_s=duration(1.0),
        ttft_s=0.5 * cycle + duration(1.0) + wait(rho, None),
        ttft_p99_s=P99 * cycle + duration(longer99) + wait(rho, P99),
        replica_requests_per_s=1 / tau,
        target_utilisation=rho,
        tokens_per_s_per_accelerator=batch / tpot_b / (tp * pp),
        max_tokens_per_s_per_accelerator=b_max / tpot(b_max) / (tp * pp),
        prefill_share=1 - decode_only / tpot_b,
    )
    return st.FEASIBLE, out


def _ceil(x):
    """Ceiling as a float, as the kernel counts (a whole number that never wraps around)."""
    return float(math.ceil(x))


def _floor(x):
    """Floor as a float, as the kernel counts."""
    return float(math.floor(x))


def _servers(sc, rep, aps, y):
    """Whole servers of year ``y``'s fleet for the replica operating point ``rep``."""
    n_rep = rep["accelerators_per_replica"]
    lam, rho = rep["replica_requests_per_s"], rep["target_utilisation"]
    rate = sc["workload.requests_per_day"] / 86400 * (1 + sc["workload.growth_per_year"]) ** y
    base = _ceil(rate * sc["workload.peak_to_mean"] / (lam * rho))
    replicas = base + _ceil(sc["deployment.spare_frac"] * base)
    if n_rep >= aps:
        return replicas * _ceil(n_rep / aps)
    return _ceil(replicas / _floor(aps / n_rep))


def fleet(sc, catalog, rep, years, hw, shared=None):
    """Return (status, per-year outputs as lists) for a feasible replica operating point.

    ``shared``: accelerators per year of another pool on the same scale-out fabric (sized for
    both; this fleet pays its endpoints' share of switches and transceivers).
    """
    shared = shared or [0.0] * years
    fb = _row(catalog, "fabrics", sc["network.fabric"])
    cl = _row(catalog, "cooling", sc["facility.cooling"])
    aps = hw["accelerators_per_server"]
    if sc["facility.servers_per_rack"] is None:
        per_rack = _floor(cl["rack_power_limit"] / (aps * hw["tdp"] + hw["server_overhead_power"]))
    else:
        per_rack = sc["facility.servers_per_rack"]
    if per_rack < 1:
        return st.RACK_POWER_EXCEEDED, {}
    n_rep = rep["accelerators_per_replica"]
    lam = rep["replica_requests_per_s"]
    life, dep = sc["finance.hardware_lifetime_years"], sc["finance.depreciation_years"]
    rental = sc["finance.rental_usd_per_accelerator_hour"]
    rental = hw["rental_price"] if rental is None else rental / 3600
    rental = rental if rental > 0 else math.nan
    input_share = rep["prefill_share"]  # share of replica time spent on prompts
    out: dict[str, list] = {}
    bought, spend, facility_spend = [], [], []
    built = 0.0
    owned = sc["facility.build_usd_per_kw"] is not None
    building_life = sc["facility.building_life_years"]
    tco = npv = rent_tco = 0.0
    for y in range(years):
        rate = sc["workload.requests_per_day"] / 86400 * (1 + sc["workload.growth_per_year"]) ** y
        peak = rate * sc["workload.peak_to_mean"]
        servers = _servers(sc, rep, aps, y)
        acc = servers * aps
        busy = rate / lam * n_rep / acc if acc else 0.0
        peak_busy = peak / lam * n_rep / acc if acc else 0.0
        # fat tree: tiers L with N <= 2 (k/2)^L; switches (2L-1) N / k; transceivers 2 N L
        # one server alone needs no fabric; beside another pool it joins theirs
        ends = acc if servers > 1 or shared[y] > 0 else 0
        ports = ends + shared[y]
        k = fb["switch_radix"]
        tiers = 0 if ports <= 1 else next(L for L in range(1, 2000) if ports <= 2 * (k / 2) ** L)
        switches = 0 if tiers == 0 else (1 if tiers == 1 else _ceil((2 * tiers - 1) * ports / k))
        xcvr = 2 * ports * tiers
        mine = ends / ports if ports else 0.0
        net_w = (switches * fb["switch_power"] + xcvr * fb["transceiver_power"]) * mine + ends * fb[
            "nic_power"
        ]
        net_usd = (
            switches * fb["switch_price"] + xcvr * fb["transceiver_price"]
        ) * mine + ends * fb["nic_price"]
        server_w = hw["server_overhead_power"]
        it = (
            acc * (hw["idle_power"] + (hw["tdp"] - hw["idle_power"]) * busy)
            + servers * server_w
            + net_w
        )
        it_peak = acc * hw["tdp"] + servers * server_w + net_w
        fac = it * cl["pue"]
        requests = rate * SECONDS_PER_YEAR
        tokens = requests * sc["workload.output_tokens"]
        alive = sum(bought[max(0, y - life + 1) : y])
        bought.append(max(0.0, acc - alive))
        decline = (1 - sc["finance.price_decline_per_year"]) ** y
        hw_capex = bought[-1] * (hw["price_purchase"] + hw["server_price"] / aps) * decline
        net_capex = bought[-1] * (net_usd / acc if acc else 0.0) * decline
        spend.append(hw_capex + net_capex)
        # an owned facility builds capacity for peak IT kW as the fleet grows
        fac_capex = (
            max(0.0, it_peak - built) / 1000 * sc["facility.build_usd_per_kw"] if owned else 0.0
        )
        built = max(built, it_peak) if owned else 0.0
        facility_spend.append(fac_capex)
        capex = spend[-1] + fac_capex
        depreciation = (
            sum(spend[max(0, y - dep + 1) : y + 1]) / dep
            + sum(facility_spend[max(0, y - building_life + 1) : y + 1]) / building_life
        )
        energy = fac * SECONDS_PER_YEAR / 3.6e6 * sc["finance.electricity_usd_per_kwh"]
        facility = (
            0.0 if owned else it_peak / 1000 * sc["facility.colocation_usd_per_kw_month"] * 12
        )
        maintenance = sc["finance.maintenance_frac_per_year"] * sum(
            spend[max(0, y - life + 1) : y + 1]
        )
        staff = (
            sc["finance.staff_per_1000_accelerators"]
            * acc
            / 1000
            * sc["finance.staff_cost_usd_per_year"]
        )
        software = acc * sc["finance.software_usd_per_accelerator_year"]
        opex = energy + facility + maintenance + staff + software
        tco += capex + opex
        npv += (capex + opex) / (1 + sc["finance.discount_rate"]) ** y
        rent = acc * rental * SECONDS_PER_YEAR
        rent_tco += rent + staff + software
        accrual = depreciation + opex
        row = {
            "accelerators": acc,
            "servers": servers,
            "racks": _ceil(servers / per_rack),
            "utilisation": busy,
            "peak_utilisation": peak_busy,
            "it_power_w": it,
            "facility_power_w": fac,
            "energy_per_token_j": fac * SECONDS_PER_YEAR / tokens if tokens else math.nan,
            "carbon_kg": fac
            * SECONDS_PER_YEAR
            / 3.6e6
            * sc["facility.grid_carbon_g_per_kwh"]
            / 1000,
            "generated_tokens": tokens,
            "capex_usd": capex,
            "facility_capex_usd": fac_capex,
            "floor_space_m2": _ceil(servers / per_rack) * cl["floor_area_per_rack"],
            "hardware_capex_usd": hw_capex,
            "network_capex_usd": net_capex,
            "depreciation_usd": depreciation,
            "energy_cost_usd": energy,
            "facility_cost_usd": facility,
            "maintenance_cost_usd": maintenance,
            "staff_cost_usd": staff,
            "software_cost_usd": software,
            "opex_usd": opex,
            "tco_usd": tco,
            "npv_usd": npv,
            "cost_per_million_output_tokens_usd": accrual * (1 - input_share) / tokens * 1e6
            if tokens
            else math.nan,
            "cost_per_million_input_tokens_usd": (
                accrual * input_share / (requests * sc["workload.input_tokens"]) * 1e6
                if tokens
                else math.nan
            ),
            "cost_per_request_usd": accrual / requests if tokens else math.nan,
            "rent_cost_usd": rent,
            "rent_tco_usd": rent_tco,
            "break_even_utilisation": accrual / rent if rent > 0 else math.nan,
        }
        for name, value in row.items():
            out.setdefault(name, []).append(value)
    code = st.ZERO_DEMAND if sc["workload.requests_per_day"] <= 0 else st.FEASIBLE
    return code, out


# --------------------------------------------------------------------------- disaggregated
def _prefill_pool_at(tp, pp, adp, ep, sc, catalog, hw, dec, shared, decode_scaleout):
    """Return (status, outputs) of a prefill replica beside the decode replica ``dec``.

    Whole prompts, one per attention group and stage in flight; TTFT = M/G/1 wait + prefill +
    the prompt's whole KV cache sent to the decode replica (NVLink when both fit in one
    scale-up domain of the same hardware, else the slower NIC at the fabric's efficiency).
    """
    m, d, drafting, fb, b_w, b_kv, peak = _rows(sc, catalog, hw)
    S = sc["workload.input_tokens"]
    C = S * sc["deployment.prefix_cache_hit_rate"]
    cv_in = sc["workload.input_tokens_cv"]
    code, out = _layout(tp, pp, adp, ep, m, "prefill_")
    if code != st.FEASIBLE:
        return code, out
    group = tp // adp
    held = _weights_held(m, d if drafting else None, b_w, adp)
    kv_tok = m["kv_elements_per_token"] * b_kv
    kv_d = d["kv_elements_per_token"] * b_kv if drafting else 0.0
    kv_held = kv_tok * group / min(group, m["kv_shards"])
    if drafting:
        kv_held += kv_d * group / min(group, d["kv_shards"])
    free = tp * pp * hw["hbm_capacity"] * (1 - sc["deployment.memory_reserve_frac"]) - held
    if free < 0:
        return st.WEIGHTS_DO_NOT_FIT, out
    if math.floor(free / (S * kv_held)) < adp * pp:  # the prompts in flight hold their KV
        return st.KV_DOES_NOT_FIT, out
    prefill_id = sc["deployment.prefill_hardware"] or sc["hardware"]
    lay = _engine_layout(tp, pp, adp, ep, sc, catalog, hw, prefill_id, fb, peak, b_w)
    if lay is None:
        return st.ENGINE_NOT_AVAILABLE, out
    hw, domain = lay.hw, hw["scaleup_domain"]
    t_pf = _prefill_alone(S - C, _prompt_attention_flops(S, C, m, cv_in), m, kv_tok, lay)
    if drafting:
        t_pf += _prefill_alone(S - C, _prompt_attention_flops(S, C, d, cv_in), d, kv_d, lay)
    s = t_pf / (pp * adp)  # replica time per prompt
    n_d = dec["accelerators_per_replica"]
    if shared and tp * pp + n_d <= domain:
        bw = _scaleup_link(hw, 1)  # each lane to one peer
    else:
        bw = min(hw["scaleout_bandwidth"], decode_scaleout) * fb["effective_bandwidth_frac"]
    decode_group = dec["tensor_parallel"] / dec["attention_data_parallel"]
    lanes = min(group, decode_group, m["kv_shards"]) * min(pp, dec["pipeline_parallel"])
    wire = S * (kv_tok + kv_d) / (lanes * bw)
    transfer = wire + sc["deployment.link_latency_s"]
    q = sc["workload.ttft_quantile"]
    target = math.inf if sc["workload.ttft_slo_s"] is None else sc["workload.ttft_slo_s"]
    cap = sc["workload.max_utilisation"]
    slack = target - (t_pf + transfer) * _length_ratio(cv_in, q)
    if slack < 0:
        return st.TTFT_UNREACHABLE, out
    if math.isinf(slack):
        rho = cap
    else:  # bisection to full precision on the prefill queue's wait
        lo, hi = 0.0, 1.0
        while True:
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            lo, hi = (mid, hi) if _mg1_wait(mid, s, cv_in, q) <= slack else (lo, mid)
        rho = min(lo, cap)
    sending = rho / s * lanes * wire / (tp * pp)
    receiving = dec["target_utilisation"] * dec["replica_requests_per_s"] * lanes * wire / n_d
    out["kv_transfer_s"] = transfer
    out["kv_link_utilisation"] = max(sending, receiving)
    if out["kv_link_utilisation"] > 1:
        return st.KV_TRANSFER_TOO_SLOW, out
    out.update(
        prefill_replica_requests_per_s=1 / s,
        prefill_planned_utilisation=rho,
        input_tokens_per_s_per_prefill_accelerator=S / s / (tp * pp),
        prefill_time_s=t_pf,
        ttft_s=t_pf + transfer + _mg1_wait(rho, s, cv_in, None),
        ttft_p99_s=(t_pf + transfer) * _length_ratio(cv_in, P99) + _mg1_wait(rho, s, cv_in, P99),
    )
    return st.FEASIBLE, out


def _accelerator_years(sc, rate, utilisation, n_rep, aps, years):
    """Accelerators of a pool's fleet at one operating point, summed over the years."""
    rep = {
        "accelerators_per_replica": n_rep,
        "replica_requests_per_s": rate,
        "target_utilisation": utilisation,
    }
    return sum(_servers(sc, rep, aps, y) * aps for y in range(years))


def decode_pool(sc, catalog, hw, years):
    """Return (status, outputs) of the decode pool: every prompt's KV arrives whole (a full
    prefix-cache hit), no prompt steps, TTFT the prefill pool's business; the layout whose
    fleet needs the fewest accelerators over the years, then the most tokens/s per one."""
    as_decode = {
        **sc,
        "deployment.prefill": "whole",
        "deployment.prefix_cache_hit_rate": 1.0,
        "workload.ttft_slo_s": None,
    }

    def objective(o):
        n = _accelerator_years(sc, o["replica_requests_per_s"], o["target_utilisation"],
                               o["accelerators_per_replica"], hw["accelerators_per_server"],
                               years)  # fmt: skip
        return -n, o["tokens_per_s_per_accelerator"]

    return search(
        as_decode, catalog, hw,
        lambda tp, pp, adp, ep: replica_at(tp, pp, adp, ep, as_decode, catalog, hw), objective,
    )  # fmt: skip


def prefill_pool(sc, catalog, hw, dec, shared, decode_scaleout, years):
    """Return (status, outputs) of the prefill pool beside the decode replica ``dec``: the layout
    whose fleet needs the fewest accelerators over the years, then the most prompts per second
    per accelerator at the utilisation TTFT allows."""

    def objective(o):
        rate, rho = o["prefill_replica_requests_per_s"], o["prefill_planned_utilisation"]
        n_rep = o["prefill_accelerators_per_replica"]
        n = _accelerator_years(sc, rate, rho, n_rep, hw["accelerators_per_server"], years)
        return -n, rho * rate / n_rep

    def at(tp, pp, adp, ep):
        return _prefill_pool_at(tp, pp, adp, ep, sc, catalog, hw, dec, shared, decode_scaleout)

    return search(sc, catalog, hw, at, objective)


def disaggregated(sc, catalog, years):
    """Return (status, scenario outputs, per-year outputs) of a prefill pool and a decode pool."""
    hw, clock = derated_hardware(sc, catalog)
    if clock <= 0:
        return st.RACK_POWER_EXCEEDED, {}, {}
    prefill_id = sc["deployment.prefill_hardware"] or sc["hardware"]
    hw_p, clock_p = derated_hardware({**sc, "hardware": prefill_id}, catalog)
    if clock_p <= 0:
        return st.RACK_POWER_EXCEEDED, {}, {}
    code, rep = decode_pool(sc, catalog, hw, years)
    if code != st.FEASIBLE:
        return code, rep, {}
    rep["clock_scale"] = clock
    code, pf = prefill_pool(sc, catalog, hw_p, rep, prefill_id == sc["hardware"],
                            hw["scaleout_bandwidth"], years)  # fmt: skip
    rep.update(pf)
    if code != st.FEASIBLE:
        return code, rep, {}
    as_prefill = {
        "accelerators_per_replica": rep["prefill_accelerators_per_replica"],
        "replica_requests_per_s": rep["prefill_replica_requests_per_s"],
        "target_utilisation": rep["prefill_planned_utilisation"],
        "prefill_share": 1.0,  # the prefill pool's costs go to input tokens
    }
    # one fabric for both pools
    dec_size = [_servers(sc, rep, hw["accelerators_per_server"], y) * hw["accelerators_per_server"]
                for y in range(years)]  # fmt: skip
    aps_p = hw_p["accelerators_per_server"]
    pf_size = [_servers(sc, as_prefill, aps_p, y) * aps_p for y in range(years)]
    code, dec_years = fleet(sc, catalog, rep, years, hw, pf_size)
    if code not in st.SERVABLE:
        return code, rep, {}
    pf_code, pf_years = fleet(sc, catalog, as_prefill, years, hw_p, dec_size)
    if pf_code not in st.SERVABLE:
        return pf_code, rep, {}
    out = {}
    for name, dec_values in dec_years.items():
        pf_values = pf_years[name]
        if name == "generated_tokens":  # both pools serve the same tokens
            out[name] = dec_values
        elif name in ("utilisation", "peak_utilisation"):
            out[name] = [
                (u_d * a_d + u_p * a_p) / (a_d + a_p) if a_d + a_p > 0 else 0.0
                for u_d, a_d, u_p, a_p in zip(dec_values, dec_years["accelerators"], pf_values,
                                              pf_years["accelerators"], strict=True)
            ]  # fmt: skip
        elif name == "break_even_utilisation":  # total accrual over total rent
            out[name] = [
                (b_d * r_d + b_p * r_p) / (r_d + r_p) if r_d + r_p > 0 else math.nan
                for b_d, r_d, b_p, r_p in zip(dec_values, dec_years["rent_cost_usd"], pf_values,
                                              pf_years["rent_cost_usd"], strict=True)
            ]  # fmt: skip
        else:  # counts, power, money; per-token figures share their denominators
            out[name] = [a + b for a, b in zip(dec_values, pf_values, strict=True)]
    out["prefill_accelerators"] = pf_years["accelerators"]
    out["decode_accelerators"] = dec_years["accelerators"]
    out["prefill_decode_ratio"] = [
        p / d if d > 0 else math.nan
        for p, d in zip(pf_years["accelerators"], dec_years["accelerators"], strict=True)
    ]
    for pool, values in (("prefill", pf_years), ("decode", dec_years)):
        out[f"{pool}_servers"] = values["servers"]
        out[f"{pool}_utilisation"] = values["utilisation"]
        out[f"{pool}_it_power_w"] = values["it_power_w"]
        out[f"{pool}_tco_usd"] = values["tco_usd"]
    return code, rep, out


def evaluate(sc, catalog, years):
    """Return (status, scenario outputs, per-year outputs) of one scenario in config units."""
    if sc.get("deployment.serving") == "disaggregated":
        return disaggregated(sc, catalog, years)
    hw, clock = derated_hardware(sc, catalog)
    if clock <= 0:
        return st.RACK_POWER_EXCEEDED, {}, {}
    code, rep = replica(sc, catalog, hw)
    if code != st.FEASIBLE:
        return code, rep, {}
    rep["clock_scale"] = clock
    code, per_year = fleet(sc, catalog, rep, years, hw)
    return code, rep, per_year


#: the per-pool outputs of disaggregated serving, NaN in an aggregated scenario
POOL_OUTPUTS = (
    "prefill_tensor_parallel", "prefill_pipeline_parallel", "prefill_attention_data_parallel",
    "prefill_expert_parallel", "prefill_accelerators_per_replica", "prefill_replica_requests_per_s",
    "prefill_planned_utilisation", "input_tokens_per_s_per_prefill_accelerator", "kv_transfer_s",
    "kv_link_utilisation", "prefill_accelerators", "decode_accelerators", "prefill_decode_ratio",
    "prefill_servers", "decode_servers", "prefill_utilisation", "decode_utilisation",
    "prefill_it_power_w", "decode_it_power_w", "prefill_tco_usd", "decode_tco_usd",
)  # fmt: skip
#: outputs that may be NaN in a feasible scenario (no rental price known; aggregated serving's
#: per-pool outputs) or +inf (prompts queue without bound); every other output of a feasible
#: scenario must be finite
_MAY_BE_NAN = ("rent_cost_usd", "rent_tco_usd", "break_even_utilisation", *POOL_OUTPUTS)
_MAY_BE_INF = ("ttft_s",)


def invariant_violations(ds) -> int:
    """Count broken invariants in the feasible cells of a fleetsim Dataset.

    Written out independently of ``fleetsim.invariants``: every float output finite (except the
    stated NaN/+inf ones) and >= 0, utilisations <= 1, energy per token > 0, cumulative TCO and
    NPV never falling from one year to the next.
    """
    import numpy as np

    feasible = ds["status"] == st.FEASIBLE
    bad = 0
    for name, variable in ds.data_vars.items():
        if not np.issubdtype(variable.dtype, np.floating):
            continue
        values = variable.values[feasible.broadcast_like(variable).transpose(*variable.dims).values]
        if name in _MAY_BE_NAN:
            values = values[~np.isnan(values)]
        if name in _MAY_BE_INF:
            values = values[~np.isposinf(values)]
        bad += int((~np.isfinite(values)).sum() + (values < 0).sum())
    for name in ("utilisation", "peak_utilisation", "target_utilisation", "prefill_share"):
        if name in ds:
            bad += int((ds[name].where(feasible) > 1 + 1e-9).sum())
    if "energy_per_token_j" in ds:
        bad += int((ds["energy_per_token_j"].where(feasible) <= 0).sum())
    for name in ("tco_usd", "npv_usd"):
        if name in ds and ds.sizes["year"] > 1:
            bad += int((ds[name].where(feasible).diff("year") < 0).sum())
    return bad
