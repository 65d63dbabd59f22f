"""Numeric formats: storage bytes per element and which peak FLOP/s column serves them.

Block-scaled formats carry their scales: INT4 weights in the common GPTQ/AWQ layout use one FP16
scale per group of 128 weights (Frantar et al. 2022, arXiv:2210.17323; Lin et al. 2023,
arXiv:2306.00978) -> 0.5 + 2/128 B; NVFP4 uses one FP8 (E4M3) scale per 16-element block
(NVIDIA, "Introducing NVFP4", developer.nvidia.com blog, 2025-06-24) -> 0.5 + 1/16 B; MXFP4
(OCP Microscaling Formats v1.0, 2023-09) uses one E8M0 scale byte per 32-element block ->
0.5 + 1/32 B, the format gpt-oss ships its expert weights in. FP8 per-tensor or per-channel
scales are negligible. The label ``fp4`` is NVFP4.
"""

from __future__ import annotations

#: format labels accepted by deployment.weight_dtype / kv_dtype, in kernel code order
DTYPES: tuple[str, ...] = ("bf16", "fp8", "int8", "int4", "fp4", "mxfp4")

#: storage bytes per element (scales included), by code
BYTES_PER_ELEMENT: tuple[float, ...] = (
    2.0,
    1.0,
    1.0,
    0.5 + 2.0 / 128.0,
    0.5 + 1.0 / 16.0,
    0.5 + 1.0 / 32.0,
)

#: the hardware peak-FLOP/s parameter that computes each weight format. INT4 weights are
#: dequantised and multiplied in BF16 (weight-only quantisation); an accelerator without the
#: format's tensor cores also falls back to BF16 (see kernel). MXFP4 and NVFP4 run on the same FP4
#: tensor cores (Blackwell, CDNA 4).
COMPUTE_COLUMN: tuple[str, ...] = (
    "peak_flops_bf16",
    "peak_flops_fp8",
    "peak_flops_int8",
    "peak_flops_bf16",
    "peak_flops_fp4",
    "peak_flops_fp4",
)
