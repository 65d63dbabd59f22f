"""Model shapes: weight bytes, KV bytes per token, attention and prefill FLOPs, MoE experts touched.

The catalog-time functions (plain Python, called once per model in :mod:`fleetsim.catalog`)
reduce every attention variant to coefficients the kernel uses without branching: KV elements
per token and attention FLOPs per (token x context token), each split into a *full* part (every
context token) and a *bounded* part that sees at most ``span`` tokens -- sliding-window or chunked
local-attention layers (gpt-oss, Llama 4: the KV of only the last ``span`` tokens is kept) and
sparse attention that selects ``span`` tokens per query (DeepSeek-V3.2 DSA: all tokens' KV is
kept, only the selected ones are read and attended). The jitted ``*_at`` functions evaluate the
split at a context length.
"""

from __future__ import annotations

from fleetsim._jit import jit


def kv_elements_per_token(
    attention_kind: str,
    layers: int,
    n_kv_heads: int,
    head_dim: int,
    kv_lora_rank: int = 0,
    rope_head_dim: int = 0,
) -> float:
    """Return the KV-cache elements stored per token over all layers.

    Parameters
    ----------
    attention_kind : str
        ``"mha"``, ``"gqa"`` or ``"mla"``.
    layers : int
        Transformer layers. [1]
    n_kv_heads : int
        Key/value heads (ignored for MLA). [1]
    head_dim : int
        Head dimension (ignored for MLA). [1]
    kv_lora_rank, rope_head_dim : int
        MLA latent rank and decoupled rotary key dimension. [1]

    Returns
    -------
    float
        Elements per token; multiply by bytes per KV element for bytes. [1]

    Notes
    -----
    MHA/GQA: :math:`2 L h_{kv} d_h` (keys and values). MLA caches one compressed latent plus the
    rotary key per layer: :math:`L (r + r_{rope})` (DeepSeek-V2, arXiv:2405.04434, eq. 9-10).
    """
    if attention_kind == "mla":
        return float(layers * (kv_lora_rank + rope_head_dim))
    return float(2 * layers * n_kv_heads * head_dim)


def attention_flops_per_context_token(
    attention_kind: str,
    layers: int,
    n_heads: int,
    head_dim: int,
    kv_lora_rank: int = 0,
    rope_head_dim: int = 0,
) -> float:
    """Return attention FLOPs of one query token per context token it attends to.

    Parameters
    ----------
    attention_kind : str
        ``"mha"``, ``"gqa"`` or ``"mla"``.
    layers, n_heads, head_dim : int
        Layers, query heads and head dimension. [1]
    kv_lora_rank, rope_head_dim : int
        MLA latent rank and rotary key dimension. [1]

    Returns
    -------
    float
        FLOPs per (query token x context token). [FLOP]

    Notes
    -----
    MHA/GQA: scores :math:`QK^T` and the weighted sum :math:`PV` each cost :math:`2 h d_h` per
    context token and layer, so :math:`4 L h d_h` (Kaplan et al. 2020, arXiv:2001.08361, Table 1).
    MLA with absorbed projections attends in latent space: scores over :math:`r + r_{rope}` and
    values over :math:`r`, so :math:`2 L h (2r + r_{rope})`.
    """
    if attention_kind == "mla":
        return float(2 * layers * n_heads * (2 * kv_lora_rank + rope_head_dim))
    return float(4 * layers * n_heads * head_dim)


def activation_elements_per_token(
    attention_kind: str,
    layers: int,
    moe_layers: int,
    d_model: int,
    n_heads: int,
    n_kv_heads: int,
    head_dim: int,
    ffn_dim: int,
    dense_expert_ffn_dim: int,
    kv_lora_rank: int = 0,
    rope_head_dim: int = 0,
) -> tuple[float, float]:
    r"""Return the activation elements one token moves through memory outside its GEMMs' weights.

    Parameters
    ----------
    attention_kind : str
        ``"mha"``, ``"gqa"`` or ``"mla"``.
    layers, moe_layers : int
        Transformer layers, and those whose MLP is a routed mixture of experts. [1]
    d_model, n_heads, n_kv_heads, head_dim : int
        Residual width, query heads, KV heads and head dimension. [1]
    ffn_dim : int
        Width of the dense layers' SwiGLU MLP. [1]
    dense_expert_ffn_dim : int
        Total width of a MoE layer's always-active (shared) experts (0: none). [1]
    kv_lora_rank, rope_head_dim : int
        MLA latent rank and rotary key dimension. [1]

    Returns
    -------
    tuple of float
        ``(replicated, split)`` elements per token over all layers: the residual-width
        reads and writes every device of a tensor-parallel group repeats, and the head- and
        MLP-width ones the group's devices share. The routed experts' own part,
        :math:`k (2d + 6 f_e)` per MoE layer, is added in the kernel (it follows the routing).

    Notes
    -----
    Every kernel reads its inputs from and writes its outputs to memory once, and the residual
    add is fused into the RMSNorm after it, as vLLM's ``fused_add_rms_norm`` and TensorRT-LLM's
    fused all-reduce + residual + RMSNorm do (reads the block's output and the residual, writes
    both: 4d). Other neighbours are not fused (an assumption: an upper count). Per layer and
    token, in elements:

    * attention block -- fused add + RMSNorm (4d), the QKV GEMM's input (d) and the O GEMM's
      output (d): :math:`6d` replicated; QKV output :math:`(h + 2h_{kv}) d_h`, RoPE on q and k
      (read and write :math:`(h + h_{kv}) d_h`), attention's query read and output write
      (:math:`2 h d_h`) and O's input (:math:`h d_h`): :math:`d_h (6h + 4h_{kv})` split. MLA
      decodes in absorbed form, its queries and outputs in latent space (DeepSeek-V2,
      arXiv:2405.04434, section 2.1.2): :math:`6 h d_h + 2h (r + r_{rope}) + 2 h r` split;
    * dense SwiGLU MLP -- fused add + RMSNorm, gate/up input, down output: :math:`6d`
      replicated; gate/up output :math:`2F`, SiLU x up (read 2F, write F), down input F:
      :math:`6F` split. A MoE layer's shared experts count as a dense MLP of their width
      (:math:`6d` with them); without, the router's input and the combine's output (:math:`5d`);
      the routed experts' own part is the kernel's.

    Their cost is memory-bound (a few FLOPs per element), which is why a small model at a
    low weight precision -- whose GEMMs are fast -- falls further below its GEMM roofline than
    a large one: non-GEMM operators take 15-48 % of inference latency even with operator fusion,
    more under quantization (Karami, Kao and Kwon, "Understanding the Performance Horizon of the
    Latest ML Workloads with NonGEMM Workloads", arXiv:2404.11788).
    """
    replicated_attention = 6 * d_model
    if attention_kind == "mla":
        split_attention = 6 * n_heads * head_dim + 2 * n_heads * (2 * kv_lora_rank + rope_head_dim)
    else:
        split_attention = head_dim * (6 * n_heads + 4 * n_kv_heads)
    dense_layers = layers - moe_layers
    replicated = layers * replicated_attention + dense_layers * 6 * d_model
    replicated += moe_layers * (6 * d_model if dense_expert_ffn_dim else 5 * d_model)
    split = layers * split_attention + 6 * (
        dense_layers * ffn_dim + moe_layers * dense_expert_ffn_dim
    )
    return float(replicated), float(split)


def sparse_indexer_coefficients(layers: int, indexer_heads: int, indexer_head_dim: int):
    """Return the KV elements per token and FLOPs per context token of a DSA lightning indexer.

    Parameters
    ----------
    layers : int
        Layers with an indexer. [1]
    indexer_heads, indexer_head_dim : int
        Indexer query heads and their dimension (``index_n_heads``, ``index_head_dim``). [1]

    Returns
    -------
    tuple of float
        ``(L d_I, 2 L h_I d_I)``: one shared indexer key of ``d_I`` elements is cached per token
        and layer, and each query scores every context token with ``h_I`` heads (DeepSeek-AI,
        DeepSeek-V3.2-Exp tech report, 2025-09, section 2.1). [1], [FLOP]
    """
    return float(layers * indexer_head_dim), float(2 * layers * indexer_heads * indexer_head_dim)


@jit
def kv_elements_held(kv_full: float, kv_bounded: float, span: float, kept: float, tokens: float):
    r"""Return the KV-cache elements one sequence of ``tokens`` tokens holds.

    Parameters
    ----------
    kv_full, kv_bounded : float
        KV elements per token of the full-attention and bounded parts. [1]
    span : float
        Tokens the bounded part sees (window, chunk or selected-token count). [1]
    kept : float
        1 if the bounded part keeps every token's KV (sparse selection), 0 if only the last
        ``span`` tokens' (sliding window / local chunk). [1]
    tokens : float
        Tokens in the sequence n. [1]

    Returns
    -------
    float
        :math:`kv_f n + kv_b \min(n, w)` for windows, :math:`(kv_f + kv_b) n` when kept. [1]
    """
    bounded = tokens if kept > 0.0 else min(tokens, span)
    return kv_full * tokens + kv_bounded * bounded


@jit
def kv_elements_read(kv_full: float, kv_bounded: float, span: float, context: float) -> float:
    r"""Return the KV-cache elements one decode token reads at a context length.

    Parameters
    ----------
    kv_full, kv_bounded, span : float
        As in :func:`kv_elements_held`. [1]
    context : float
        Tokens in the context c. [1]

    Returns
    -------
    float
        :math:`kv_f c + kv_b \min(c, w)`: windows and sparse selection both read at most
        ``span`` tokens on the bounded part. [1]
    """
    return kv_full * context + kv_bounded * min(context, span)


@jit
def attention_flops_at(a_full: float, a_bounded: float, span: float, context: float) -> float:
    r"""Return the attention FLOPs of one query token at a context length.

    Parameters
    ----------
    a_full, a_bounded : float
        Attention FLOPs per context token of the full and bounded parts. [FLOP]
    span : float
        Tokens the bounded part attends to at most. [1]
    context : float
        Tokens in the context c. [1]

    Returns
    -------
    float
        :math:`a_f c + a_b \min(c, w)`. [FLOP]
    """
    return a_full * context + a_bounded * min(context, span)


@jit
def per_context_token(total: float, context: float, full: float) -> float:
    """Return ``total / context``, or ``full`` at an empty context (a per-token coefficient)."""
    if context <= 0.0:
        return full
    return total / context


@jit
def _bounded_prefix(span: float, tokens: float) -> float:
    """Return the sum over a causal prompt of min(i, span) for i < tokens (as an integral)."""
    if tokens <= span:
        return 0.5 * tokens * tokens
    return span * tokens - 0.5 * span * span


@jit
def prefill_attention_coefficient(
    a_full: float,
    a_bounded: float,
    span: float,
    prompt_tokens: float,
    cached_tokens: float,
    prompt_cv: float,
) -> float:
    r"""Return the coefficient ``a`` for which :func:`prefill_flops` gives a prompt's attention.

    Parameters
    ----------
    a_full, a_bounded, span : float
        As in :func:`attention_flops_at`. [FLOP], [FLOP], [1]
    prompt_tokens, cached_tokens : float
        Prompt length S and its cached prefix C. [1]
    prompt_cv : float
        Coefficient of variation of the prompt length. [1]

    Returns
    -------
    float
        With :math:`G(x) = x^2/2` for :math:`x \le w`, :math:`w x - w^2/2` beyond, the prompt
        attends :math:`a_f (S^2 - C^2)/2 (1 + c_S^2) + a_b (G(S) - G(C)) s` FLOPs, where the
        spread factor :math:`s = 1 + c_S^2` applies while the prompt is within the span
        (quadratic) and 1 beyond it (linear in S); divided by :math:`(S^2 - C^2)(1 + c_S^2)/2`. [FLOP]
    """
    quadratic = 0.5 * (prompt_tokens**2 - cached_tokens**2) * (1.0 + prompt_cv**2)
    if quadratic <= 0.0:
        return a_full + a_bounded
    spread = 1.0 + prompt_cv**2 if prompt_tokens <= span else 1.0
    bounded = (_bounded_prefix(span, prompt_tokens) - _bounded_prefix(span, cached_tokens)) * spread
    return a_full + a_bounded * bounded / quadratic


@jit
def weight_bytes(parameters: float, bytes_per_weight: float) -> float:
    r"""Return the bytes of a model's weights.

    Parameters
    ----------
    parameters : float
        Parameter count. [1]
    bytes_per_weight : float
        Storage bytes per weight, quantisation scales included. [B]

    Returns
    -------
    float
        :math:`W = P \\cdot b_w`. [B]
    """
    return parameters * bytes_per_weight


@jit
def prefill_attention_flops(
    attention_coefficient: float, prompt_tokens: float, cached_tokens: float, prompt_cv: float
) -> float:
    """Return the mean causal-attention FLOPs of prefilling a prompt of mean length ``prompt_tokens``.

    Parameters
    ----------
    attention_coefficient : float
        Attention FLOPs per (token x context token). [FLOP]
    prompt_tokens : float
        Prompt length S. [1]
    cached_tokens : float
        Leading prompt tokens C whose KV is already cached (prefix caching): they are not
        recomputed, but the new tokens still attend to them. [1]
    prompt_cv : float
        Coefficient of variation of the prompt length c_S (0: every prompt has the mean
        length); the cached share is the same for every prompt. [1]

    Returns
    -------
    float
        :math:`a (S^2 - C^2)(1 + c_S^2) / 2`: token i attends to i tokens, so the cost follows
        :math:`E[S^2] = S^2 (1 + c_S^2)` (Zheng et al., SGLang, arXiv:2312.07104, for prefix
        reuse). [FLOP]
    """
    attention = 0.5 * attention_coefficient * (prompt_tokens**2 - cached_tokens**2)
    return attention * (1.0 + prompt_cv**2)


@jit
def prefill_flops(
    active_parameters: float,
    attention_coefficient: float,
    prompt_tokens: float,
    cached_tokens: float,
    prompt_cv: float,
):
    """Return the mean FLOPs to prefill a prompt of mean length ``prompt_tokens``.

    Parameters
    ----------
    active_parameters : float
        Parameters active per token. [1]
    attention_coefficient, prompt_tokens, cached_tokens, prompt_cv : float
        As in :func:`prefill_attention_flops`. [FLOP], [1], [1], [1]

    Returns
    -------
    float
        :math:`2 P_a (S - C)` plus :func:`prefill_attention_flops`. [FLOP]
    """
    computed = prompt_tokens - cached_tokens
    return 2.0 * active_parameters * computed + prefill_attention_flops(
        attention_coefficient, prompt_tokens, cached_tokens, prompt_cv
    )


@jit
def experts_touched(experts: float, top_k: float, batch: float) -> float:
    """Return the expected distinct routed experts per MoE layer hit by a batch of tokens.

    Parameters
    ----------
    experts : float
        Routed experts per layer E. [1]
    top_k : float
        Experts chosen per token k. [1]
    batch : float
        Tokens in the step B. [1]

    Returns
    -------
    float
        :math:`E (1 - (1 - k/E)^B)`, assuming uniform independent routing. [1]
    """
    if experts <= 0.0:
        return 0.0
    return experts * (1.0 - (1.0 - top_k / experts) ** batch)
