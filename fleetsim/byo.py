"""Bring your own model or accelerator, and whole-catalog selections, as catalog entries.

``model=./path/config.json`` reads a Hugging Face ``config.json`` (Llama, Qwen2/3 and Qwen3-MoE,
Mixtral/Mistral, DeepSeek-V2/V3/V3.2 and Kimi K2, gpt-oss, Llama 4, GLM-4.5) into the
catalog's model parameters; ``hardware=./path/accelerator.yaml`` reads an accelerator written
like ``data/byo/accelerator.yaml`` (the documented template). Either may appear in a sweep list
beside catalog ids; the entry's id is the string given. ``model=all`` / ``hardware=all`` select
the whole table, ``all:<filter>`` a part of it (:data:`FILTERS`). Every value goes through the
catalog's own checks (:mod:`fleetsim.catalog`), so errors name the file, the key, the value and
what is allowed; the SHA-256 of each file read enters the catalog checksum and the output's
provenance attributes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from fleetsim import efficiency
from fleetsim.catalog import Catalog, Table, _schema, check_entry, table_row
from fleetsim.errors import CatalogError
from fleetsim.units import CATALOG_UNITS

#: file name endings read as a file reference instead of a catalog id
SUFFIXES = (".json", ".yaml", ".yml")
#: ``all:<filter>`` selections: table -> filter -> (description, predicate on a table row)
FILTERS = {
    "models": {
        "dense": ("models without routed experts", lambda row: row["moe_experts"] == 0.0),
        "moe": ("mixture-of-experts models", lambda row: row["moe_experts"] > 0.0),
    },
    "hardware": {
        segment: (f"hardware of segment {segment!r} (data/hardware.csv)", None)
        for segment in ("datacenter", "pcie", "cloud", "announced")
    },
}
_TABLE = {"model": "models", "hardware": "hardware"}
#: reference -> the checked catalog entry of each file read (for its model class)
_ENTRIES: dict[str, dict] = {}


def is_file(value: object) -> bool:
    """Return whether a ``model`` / ``hardware`` value names a file rather than a catalog id.

    A file ends in ``.json`` / ``.yaml`` / ``.yml`` or is an explicit path (``./``, ``../``,
    ``/``, ``~``); ``openai/gpt-oss-20b`` is not, and gets a did-you-mean hint instead.
    """
    return isinstance(value, str) and (
        value.lower().endswith(SUFFIXES) or value.startswith(("./", "../", "/", "~"))
    )


def _special(value: object) -> bool:
    """Return whether a value is an ``all`` / ``all:<filter>`` selection."""
    return isinstance(value, str) and (value == "all" or value.startswith("all:"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> tuple[dict, str]:
    """Return a file's mapping and its SHA-256; a one-line error if it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except OSError as error:
        raise CatalogError(str(path), f"cannot read the file ({error.strerror})") from None
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise CatalogError(str(path), f"not valid {path.suffix[1:].upper()} ({reason})") from None
    if not isinstance(data, dict):
        raise CatalogError(str(path), f"must hold a mapping of keys; found {type(data).__name__}")
    return data, _sha256(path)


def _need(where: str, config: dict, *keys: str) -> object:
    """Return the first of ``keys`` present in ``config``; a one-line error naming them if none."""
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    raise CatalogError(where, f"missing key {' or '.join(keys)} (a Hugging Face config.json key)")


def _int(where: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise CatalogError(where, f"{key}={value!r}; allowed: a whole number")
    return int(value)


def model_parameters(where: str, config: dict) -> dict[str, float | str]:
    """Map a Hugging Face ``config.json`` to the catalog's model parameters (SI, unchecked).

    Parameters
    ----------
    where : str
        The file, for error messages.
    config : dict
        The parsed ``config.json`` (a multimodal config's ``text_config`` is used).

    Returns
    -------
    dict
        Catalog parameters: shapes from the config, ``total_params`` and ``active_params``
        counted from the architecture (embeddings, attention, dense and expert SwiGLU FFNs,
        routers, norms; active = total minus the routed experts a token does not use).
    """
    config = config.get("text_config") or config
    kind_of = str(config.get("model_type", ""))

    def num(*keys: str) -> int:
        key = next((k for k in keys if config.get(k) is not None), keys[0])
        return _int(where, key, _need(where, config, *keys))

    d, layers, heads = num("hidden_size"), num("num_hidden_layers"), num("num_attention_heads")
    vocab = num("vocab_size")
    p: dict[str, float | str] = {
        "layers": layers, "d_model": d, "n_heads": heads, "vocab": vocab,
        "max_context": num("max_position_embeddings"),
    }  # fmt: skip
    mla = config.get("kv_lora_rank") is not None
    if mla:
        rank, rope = num("kv_lora_rank"), num("qk_rope_head_dim")
        nope, v_dim = num("qk_nope_head_dim"), num("v_head_dim")
        q_rank = config.get("q_lora_rank")
        q = (d * q_rank + q_rank * heads * (nope + rope)) if q_rank else d * heads * (nope + rope)
        attention = q + d * (rank + rope) + rank * heads * (nope + v_dim) + heads * v_dim * d
        p.update(attention_kind="mla", kv_lora_rank=rank, rope_head_dim=rope, head_dim=nope)
    else:
        kv_heads = num("num_key_value_heads") if config.get("num_key_value_heads") else heads
        head_dim = num("head_dim") if config.get("head_dim") else d // heads
        attention = 2 * d * heads * head_dim + 2 * d * kv_heads * head_dim
        p.update(
            attention_kind="gqa" if kv_heads < heads else "mha",
            n_kv_heads=kv_heads,
            head_dim=head_dim,
        )
    if config.get("index_topk") is not None:  # DeepSeek-V3.2 sparse attention (DSA)
        p.update(
            sparse_attention_top_k=num("index_topk"),
            sparse_indexer_heads=num("index_n_heads"),
            sparse_indexer_head_dim=num("index_head_dim"),
        )
        # indexer projections: queries from the query latent, one key and the head weights
        q_rank = config.get("q_lora_rank") or d
        index_heads, index_dim = p["sparse_indexer_heads"], p["sparse_indexer_head_dim"]
        attention += q_rank * index_heads * index_dim + d * index_dim + d * index_heads
    local, window = _local_layers(where, config, kind_of, layers)
    if local:
        p.update(local_attention_layers=local, attention_window=window)

    experts = config.get("num_local_experts") or config.get("num_experts")
    experts = experts or config.get("n_routed_experts") or 0
    ffn = config.get("intermediate_size_mlp") or config.get("intermediate_size")
    dense_ffn = 3 * d * _int(where, "intermediate_size", ffn) if ffn else 0
    moe_layers, expert_ffn, top_k, shared_width = 0, 0, 0, 0
    if experts:
        experts = _int(where, "num_experts", experts)
        top_k = num("num_experts_per_tok", "experts_per_token")
        expert_ffn = num("moe_intermediate_size", "intermediate_size")
        dense_layers = _dense_layers(where, config, kind_of, layers)
        moe_layers = layers - dense_layers
        shared = config.get("n_shared_experts") or config.get("num_shared_experts") or 0
        shared_width = _int(where, "n_shared_experts", shared) * expert_ffn
        if config.get("shared_expert_intermediate_size"):
            shared_width = num("shared_expert_intermediate_size")
        if kind_of.startswith("llama4"):  # one shared expert as wide as a routed one
            shared, shared_width = 1, expert_ffn
        p.update(
            moe_experts=experts,
            moe_top_k=top_k,
            moe_shared_experts=_int(where, "n_shared_experts", shared),
            moe_expert_ffn_dim=expert_ffn,
            moe_dense_layers=dense_layers,
        )
        if dense_layers and ffn:
            p["ffn_dim"] = _int(where, "intermediate_size", ffn)
    elif ffn:
        p["ffn_dim"] = _int(where, "intermediate_size", ffn)
    routed = moe_layers * experts * 3 * d * expert_ffn
    moe_rest = moe_layers * (3 * d * shared_width + d * experts)  # shared experts and routers
    dense_mlp = (layers - moe_layers) * dense_ffn
    embeddings = vocab * d * (1 if config.get("tie_word_embeddings") else 2)
    total = embeddings + layers * (attention + 2 * d) + d + dense_mlp + moe_rest + routed
    idle = moe_layers * (experts - top_k) * 3 * d * expert_ffn
    p.update(total_params=float(total), active_params=float(total - idle))
    return p


def _local_layers(where: str, config: dict, kind_of: str, layers: int) -> tuple[int, int]:
    """Return (layers with sliding-window or chunked attention, their window) of a config."""
    types = config.get("layer_types")
    if isinstance(types, list) and types:
        local = sum(t in ("sliding_attention", "chunked_attention") for t in types)
        if local == 0:
            return 0, 0
        if "chunked_attention" in types:
            return local, _int(
                where, "attention_chunk_size", _need(where, config, "attention_chunk_size")
            )
        return local, _int(where, "sliding_window", _need(where, config, "sliding_window"))
    if kind_of.startswith("llama4") and config.get("attention_chunk_size"):
        rope_layers = config.get("no_rope_layers")
        if isinstance(rope_layers, list) and rope_layers:
            local = sum(bool(x) for x in rope_layers)
        else:  # every no_rope_layer_interval-th layer is global NoPE attention
            interval = _int(
                where, "no_rope_layer_interval", config.get("no_rope_layer_interval", 4)
            )
            local = sum((i + 1) % interval != 0 for i in range(layers))
        return local, _int(where, "attention_chunk_size", config["attention_chunk_size"])
    window = config.get("sliding_window")
    if window and config.get("use_sliding_window", kind_of in ("mistral", "mixtral")):
        return layers, _int(where, "sliding_window", window)
    return 0, 0


def _dense_layers(where: str, config: dict, kind_of: str, layers: int) -> int:
    """Return how many layers of an MoE config have a dense FFN instead of experts."""
    if config.get("first_k_dense_replace") is not None:  # DeepSeek, Kimi K2, GLM-4.5
        return _int(where, "first_k_dense_replace", config["first_k_dense_replace"])
    if kind_of.startswith("llama4"):
        step = _int(where, "interleave_moe_layer_step", config.get("interleave_moe_layer_step", 1))
        return layers - layers // step
    only = config.get("mlp_only_layers") or []  # Qwen MoE
    step = _int(where, "decoder_sparse_step", config.get("decoder_sparse_step", 1))
    return sum(i in only or (i + 1) % step != 0 for i in range(layers))


_QUANTITY = re.compile(r"^\s*([-+0-9.eE]+)\s*(.*?)\s*$")


def hardware_parameters(where: str, data: dict) -> dict[str, tuple[float | str, str]]:
    """Return ``parameter -> (value, unit)`` of an accelerator file (see the template).

    ``"989 TFLOP/s"`` is a number with its catalog unit, a plain number is in SI units (unit
    left empty), a word is a label (``segment``).
    """
    out: dict[str, tuple[float | str, str]] = {}
    for key, raw in data.items():
        if isinstance(raw, bool) or raw is None or isinstance(raw, list | dict):
            raise CatalogError(
                where, f"{key}={raw!r}; allowed: a number with its unit, e.g. '989 TFLOP/s'"
            )
        if isinstance(raw, int | float):
            out[str(key)] = (float(raw), "")
            continue
        match = _QUANTITY.match(str(raw))
        try:
            out[str(key)] = (float(match.group(1)), match.group(2)) if match else (raw, "category")
        except ValueError:  # not a number: a label, which check_value accepts only for labels
            out[str(key)] = (raw, "category")
    return out


def _entry(reference: str, table: str) -> tuple[list[float], dict[str, str], str]:
    """Read one file a user brought; return its table row, its labels and its SHA-256."""
    path = Path(reference).expanduser()
    where = str(reference)
    data, digest = _read(path)
    if table == "models":
        values = {
            k: (str(v), "category" if isinstance(v, str) else "1")
            for k, v in model_parameters(where, data).items()
        }
    else:
        values = {
            k: (str(v), _unit(where, k, str(v), u))
            for k, (v, u) in hardware_parameters(where, data).items()
        }
    entry = check_entry(where, table, reference, values)
    _ENTRIES[reference] = entry
    labels = {k: v for k, v in entry.items() if isinstance(v, str)}
    return table_row(table, reference, entry, where), labels, digest


def _unit(where: str, key: str, text: str, unit: str) -> str:
    """Return the unit a value of accelerator parameter ``key`` is read in (SI if none given)."""
    spec = _schema("hardware")["parameters"].get(key)
    if spec is None or spec["quantity"] == "category" or unit not in ("", "category"):
        return unit  # check_entry names an unknown key or a bad label
    quantity = spec["quantity"]
    units = ", ".join(u for u, (q, _) in CATALOG_UNITS.items() if q == quantity)
    if unit == "category":
        raise CatalogError(where, f"{key}={text!r}; allowed: a number with its unit ({units})")
    if quantity in CATALOG_UNITS:
        return quantity
    raise CatalogError(where, f"{key}={text} needs a unit; allowed: {units}")


def _select(table: str, value: str, loaded: Catalog, tables: dict[str, Table]) -> list[str]:
    """Return the ids an ``all`` / ``all:<filter>`` value selects, in catalog order."""
    ids = tables[table].ids
    _, _, name = value.partition(":")
    if not name:
        return list(ids)
    filters = FILTERS[table]
    if name not in filters:
        allowed = ", ".join(["all", *(f"all:{f}" for f in filters)])
        key = "model" if table == "models" else "hardware"
        raise CatalogError(key, f"{value!r}; allowed: catalog ids, a file, or {allowed}")
    if table == "hardware":
        labels = loaded.labels.get("hardware", {})
        return [i for i in ids if labels.get(i, {}).get("segment") == name]
    t = tables[table]
    test = filters[name][1]
    return [i for k, i in enumerate(ids) if test(dict(zip(t.columns, t.values[k], strict=True)))]


def extend(cfg: DictConfig, loaded: Catalog) -> tuple[DictConfig, Catalog]:
    """Expand ``all`` selections and read brought files of ``model`` and ``hardware``.

    Parameters
    ----------
    cfg : DictConfig
        Composed configuration; not modified.
    loaded : Catalog
        The catalog from :func:`fleetsim.catalog.load`.

    Returns
    -------
    tuple
        The configuration with ``all`` expanded to ids, and the catalog with one more row per
        file (its id: the string given), the files' checksums in ``files`` and folded into
        ``sha256``. Both are returned unchanged when there is nothing to do.

    Raises
    ------
    CatalogError
        Naming the file, the key, the value and what is allowed.
    """
    tables, labels = dict(loaded.tables), {k: dict(v) for k, v in loaded.labels.items()}
    files: list[tuple[str, str]] = []
    updates: dict[str, object] = {}
    for key, table in _TABLE.items():
        node = OmegaConf.select(cfg, key)
        is_list = isinstance(node, ListConfig)
        items = list(node) if is_list else [node]
        if not any(_special(i) or is_file(i) for i in items):
            continue  # catalog ids (or bad values, which config.validate reports)
        selected: list[object] = []
        for item in items:
            if _special(item):
                selected += _select(table, item, loaded, tables)
                is_list = True
            elif is_file(item) and item not in tables[table].ids:
                row, item_labels, digest = _entry(item, table)
                t = tables[table]
                values = np.ascontiguousarray(np.vstack([t.values, np.array([row], dtype=float)]))
                tables[table] = Table((*t.ids, item), t.columns, values)
                labels.setdefault(table, {})[item] = item_labels
                files.append((item, digest))
                selected.append(item)
            else:
                selected.append(item)
        unique = [
            v for k, v in enumerate(selected) if not isinstance(v, str) or v not in selected[:k]
        ]
        updates[key] = unique if is_list or len(unique) > 1 else unique[0]
    if not updates and not files:
        return cfg, loaded
    # a brought accelerator has only the vendor engine's scale (1: its own efficiency pair),
    # a brought model its class (dense / moe / mla), as fleetsim.efficiency gives them
    added = [r for r, _ in files]
    new_hardware = [r for r in added if r in tables["hardware"].ids]
    scale = loaded.engine_scale
    if new_hardware:
        extra = np.full((len(new_hardware), *scale.shape[1:]), np.nan)
        extra[:, 0, :] = 1.0
        scale = np.concatenate([scale, extra])
    classes = loaded.model_classes + tuple(
        efficiency.model_class(_ENTRIES[r]) for r in added if r in tables["models"].ids
    )
    cfg = cfg.copy()
    OmegaConf.set_readonly(cfg, False)  # composed configs are cached read-only (fleetsim.api)
    for key, value in updates.items():
        OmegaConf.update(cfg, key, value, merge=False)
    digest = hashlib.sha256(loaded.sha256.encode())
    for reference, sha in files:
        digest.update(f"{reference}={sha}".encode())
    return cfg, replace(
        loaded, tables=tables, labels=labels, files=(*loaded.files, *files),
        engine_scale=scale, model_classes=classes,
        sha256=digest.hexdigest() if files else loaded.sha256,
    )  # fmt: skip


def attrs(loaded: Catalog) -> dict[str, str]:
    """Return the provenance attribute naming the files a user brought and their SHA-256."""
    if not loaded.files:
        return {}
    return {"catalog_files": "; ".join(f"{ref} sha256={sha}" for ref, sha in loaded.files)}
