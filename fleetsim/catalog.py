"""Catalogs: read ``data/*.csv`` against ``data/schema/*.yaml``, check, convert to SI, pivot.

Every row of a catalog is ``<id>,parameter,value,unit,source_id,as_of,kind,currency_year,note``.
:func:`load` checks that each parameter is in the schema, its unit converts to the schema's SI
quantity, the value is within bounds, required parameters are present, the source resolves in
``data/sources.csv`` and money rows carry a currency year; errors name file, line, id, parameter,
value and what is allowed. It returns contiguous float64 tables indexed by integer ids, which is
what the kernel reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from fleetsim import efficiency, paths, yamlio
from fleetsim.errors import CatalogError
from fleetsim.units import to_si

#: catalog table name -> CSV file name (schema: data/schema/<name>.yaml)
TABLES: tuple[str, ...] = ("hardware", "models", "fabrics", "cooling")
ROW_COLUMNS = ("parameter", "value", "unit", "source_id", "as_of", "kind", "currency_year", "note")
KINDS = frozenset({"spec", "measured", "derived", "estimate", "quote", "fitted", "assumption"})
SOURCE_COLUMNS = ("source_id", "title", "publisher", "url", "accessed", "note")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")

#: columns of the model table the kernel reads (derived from the architecture at load time).
#: ``kv_elements_per_token`` and ``attention_flops_per_context_token`` are the parts that see the
#: whole context; the ``bounded_*`` parts see at most ``attention_span`` tokens (local-attention
#: layers, or sparse attention's selected tokens), and ``bounded_kv_kept`` is 1 when every
#: token's KV is kept for them anyway (sparse selection) -- see fleetsim.physics.model_shapes.
MODEL_COLUMNS: tuple[str, ...] = (
    "total_params",
    "active_params",
    "layers",
    "d_model",
    "kv_elements_per_token",
    "attention_flops_per_context_token",
    "bounded_kv_elements_per_token",
    "bounded_attention_flops_per_context_token",
    "attention_span",
    "bounded_kv_kept",
    "dense_params",
    "expert_params",
    "moe_layers",
    "moe_experts",
    "moe_top_k",
    "max_context",
    "kv_shards",
    "activation_elements_per_token",
    "split_activation_elements_per_token",
)


@dataclass(frozen=True)
class Table:
    """One catalog as a dense table.

    Parameters
    ----------
    ids : tuple of str
        Row ids (catalog ids), in file order.
    columns : tuple of str
        Column names (SI quantities).
    values : ndarray
        ``(len(ids), len(columns))`` float64, C-contiguous; absent optional parameters are 0.
    """

    ids: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray

    def column(self, name: str) -> np.ndarray:
        """Return one column by name."""
        return self.values[:, self.columns.index(name)]


@dataclass(frozen=True)
class Catalog:
    """All catalogs, plus the sources and a checksum of the files read.

    ``engine_scale``: efficiency scales, shape (hardware, efficiency.ENGINES,
    efficiency.MODEL_CLASSES), from ``efficiency.csv`` (:func:`fleetsim.efficiency.load_scales`);
    ``model_classes``: each model's class (``dense``, ``moe``, ``mla``), in model-table order.
    ``labels`` holds the category parameters (table -> id -> parameter -> label, e.g. a
    model's ``attention_kind``); ``files`` the files users brought (:mod:`fleetsim.byo`) as
    ``(reference, sha256)`` pairs, whose checksums are folded into ``sha256``.
    """

    tables: dict[str, Table]
    sources: dict[str, dict[str, str]]
    sha256: str
    engine_scale: np.ndarray
    model_classes: tuple[str, ...]
    labels: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    files: tuple[tuple[str, str], ...] = ()

    def ids(self) -> dict[str, tuple[str, ...]]:
        """Return table name -> valid ids (for config validation)."""
        return {name: table.ids for name, table in self.tables.items()}


#: a plain decimal number: no spaces, no '_' or thousands separators, no inf/nan words
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _decode(path: Path) -> str:
    """Return a catalog file's text with LF line ends, refusing what a CSV reader would mangle."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CatalogError(str(path), f"cannot read the file ({error})") from None
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise CatalogError(f"{path.name}:{line}", "a NUL byte: not a text CSV file")
    try:
        text = raw.decode("utf-8-sig")  # a BOM, as spreadsheet programs write, is fine
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CatalogError(
            f"{path.name}:{line}", f"cannot read the file: not UTF-8 text ({error.reason})"
        ) from None
    crlf, lf = text.count("\r\n"), text.count("\n")
    if "\r" in text.replace("\r\n", ""):
        line = text[: text.replace("\r\n", "\n\n").index("\r")].count("\n") + 1
        raise CatalogError(f"{path.name}:{line}", "a carriage return inside a line")
    if 0 < crlf < lf:
        raise CatalogError(
            path.name, f"mixed line endings ({crlf} CRLF and {lf - crlf} LF); use one kind"
        )
    text = text.replace("\r\n", "\n")
    lines = text.split("\n") if text else []
    for number, line in enumerate(lines[:-1] if text.endswith("\n") else lines, start=1):
        if not line.strip():
            raise CatalogError(f"{path.name}:{number}", "a blank line (remove it)")
    return text


def _read_csv(path: Path, header: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Return ``(line, row)`` pairs of a catalog CSV with exactly the columns ``header``.

    Strict: UTF-8 (a BOM is accepted), one kind of line ending, no NUL byte, no blank line,
    no field spanning lines or holding a stray quote (an unbalanced quote swallows rows), no
    field with leading or trailing spaces.
    """
    text = _decode(path)
    rows: list[tuple[int, dict[str, str]]] = []
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        found = next(reader, [])
        if tuple(found) != header:
            raise CatalogError(
                f"{path.name}:1", f"header must be {','.join(header)}; found {','.join(found)}"
            )
        for fields in reader:
            line = reader.line_num
            where = f"{path.name}:{line}"
            if not fields:
                continue  # the end of the file
            if len(fields) != len(header):
                raise CatalogError(
                    where,
                    f"expected {len(header)} columns ({','.join(header)}); found {len(fields)}",
                )
            for column, value in zip(header, fields, strict=True):
                if "\n" in value:  # a quote opened and closed on different lines
                    raise CatalogError(
                        where, f"{column}: a quoted field spans lines (a stray quote?): {value!r}"
                    )
                if value != value.strip():
                    raise CatalogError(where, f"{column}: leading or trailing spaces in {value!r}")
            rows.append((line, dict(zip(header, fields, strict=True))))
    except csv.Error as error:
        raise CatalogError(f"{path.name}:{reader.line_num}", f"malformed CSV ({error})") from None
    return rows


def _load_sources(directory: Path) -> dict[str, dict[str, str]]:
    sources: dict[str, dict[str, str]] = {}
    for line, row in _read_csv(directory / "sources.csv", SOURCE_COLUMNS):
        where = f"sources.csv:{line}"
        if not row["source_id"] or row["source_id"] in sources:
            raise CatalogError(where, f"source_id {row['source_id']!r} is empty or repeated")
        if not row["title"] or not row["url"]:
            raise CatalogError(where, f"source {row['source_id']!r} needs a title and a url")
        sources[row["source_id"]] = row
    return sources


def _check_row(where: str, spec: dict, row: dict[str, str], sources: dict) -> float | str:
    parameter = row["parameter"]
    if row["source_id"] not in sources:
        raise CatalogError(
            where, f"{parameter}: source_id {row['source_id']!r} is not in sources.csv"
        )
    if row["kind"] not in KINDS:
        raise CatalogError(
            where, f"{parameter}: kind {row['kind']!r}; allowed: {', '.join(sorted(KINDS))}"
        )
    if not _DATE.match(row["as_of"]):
        raise CatalogError(
            where, f"{parameter}: as_of {row['as_of']!r} must be a date YYYY[-MM[-DD]]"
        )
    if spec.get("money") and not re.fullmatch(r"\d{4}", row["currency_year"] or ""):
        raise CatalogError(
            where,
            f"{parameter}: money needs a currency_year (YYYY); found {row['currency_year']!r}",
        )
    return check_value(where, parameter, spec, row["value"], row["unit"])


def check_value(where: str, parameter: str, spec: dict, text: str, unit: str) -> float | str:
    """Return one parameter's value in SI units (or its label), checked against its schema.

    Parameters
    ----------
    where : str
        File (and line) for the error message.
    parameter : str
        Parameter name.
    spec : dict
        The parameter's schema entry.
    text, unit : str
        The value as written and its catalog unit (``category`` for labels).

    Raises
    ------
    CatalogError
        Naming the parameter, the value and what is allowed.
    """
    if spec["quantity"] == "category":
        if text not in spec["allowed"]:
            raise CatalogError(
                where, f"{parameter}={text!r}; allowed: {', '.join(spec['allowed'])}"
            )
        return text
    if not _NUMBER.fullmatch(text):
        raise CatalogError(
            where,
            f"{parameter}: value {text!r} is not a plain number (digits, one '.', an "
            "optional exponent; no spaces, '_', thousands separators, inf or nan)",
        )
    try:
        value = to_si(float(text), unit, spec["quantity"])
    except ValueError as error:
        raise CatalogError(where, f"{parameter}={text!r} {unit!r}: {error}") from None
    if not spec["min"] <= value <= spec["max"]:
        raise CatalogError(
            where,
            f"{parameter}={text} {unit} is {value:g} {spec['quantity']}; "
            f"allowed [{spec['min']:g}, {spec['max']:g}] {spec['quantity']}",
        )
    if spec.get("integer") and not value.is_integer():
        raise CatalogError(where, f"{parameter}={text} must be a whole number")
    return value


def _schema(name: str) -> dict:
    """Return table ``name``'s schema (shared between calls: do not modify it)."""
    return _parse_schema((paths.schema_dir() / f"{name}.yaml").read_text(encoding="utf-8"))


@cache
def _parse_schema(text: str) -> dict:
    """Parse a schema once per content (it was parsed per catalog entry: a third of a tiny run)."""
    return yamlio.safe_load(text)


def _load_table(
    directory: Path, name: str, sources: dict
) -> tuple[tuple[str, ...], dict[str, dict]]:
    schema = _schema(name)
    id_column, parameters = schema["id_column"], schema["parameters"]
    entries: dict[str, dict] = {}
    for line, row in _read_csv(directory / f"{name}.csv", (id_column, *ROW_COLUMNS)):
        where = f"{name}.csv:{line}"
        entry_id, parameter = row[id_column], row["parameter"]
        if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", entry_id or ""):
            raise CatalogError(
                where, f"{id_column} {entry_id!r} must be lowercase letters, digits, '.' and '-'"
            )
        if parameter not in parameters:
            raise CatalogError(
                where,
                f"{entry_id}: unknown parameter {parameter!r}; allowed: {', '.join(parameters)}",
            )
        entry = entries.setdefault(entry_id, {})
        if parameter in entry:
            raise CatalogError(where, f"{entry_id}: parameter {parameter!r} given twice")
        entry[parameter] = _check_row(where, parameters[parameter], row, sources)
    if not entries:
        raise CatalogError(f"{name}.csv", "no rows: a catalog needs at least one id")
    for entry_id, entry in entries.items():
        check_complete(f"{name}.csv", name, entry_id, entry)
    return tuple(entries), entries


def check_complete(where: str, name: str, entry_id: str, entry: dict) -> None:
    """Check that one entry of table ``name`` has its required parameters, in order.

    Raises
    ------
    CatalogError
        Naming the entry and the missing parameters, or the pair out of order.
    """
    parameters = _schema(name)["parameters"]
    missing = [p for p, spec in parameters.items() if spec["required"] and p not in entry]
    if missing:
        raise CatalogError(where, f"{entry_id}: missing required parameter(s) {', '.join(missing)}")
    for low, high in _ORDERED.get(name, ()):
        if low in entry and high in entry and entry[low] > entry[high]:
            raise CatalogError(
                where, f"{entry_id}: {low}={entry[low]:g} exceeds {high}={entry[high]:g} (SI units)"
            )


def check_entry(where: str, name: str, entry_id: str, values: dict[str, tuple[str, str]]) -> dict:
    """Check a whole entry given outside the CSVs (a file a user brings) against the schema.

    Parameters
    ----------
    where : str
        The file, for error messages.
    name : str
        Table (``models`` or ``hardware``).
    entry_id : str
        The entry's id.
    values : dict
        Parameter -> (value as text, catalog unit).

    Returns
    -------
    dict
        Parameter -> SI value or label, as :func:`load` builds it.
    """
    parameters = _schema(name)["parameters"]
    entry: dict[str, float | str] = {}
    for parameter, (text, unit) in values.items():
        if parameter not in parameters:
            raise CatalogError(
                where, f"unknown key {parameter!r}; allowed: {', '.join(parameters)}"
            )
        entry[parameter] = check_value(where, parameter, parameters[parameter], text, unit)
    check_complete(where, name, entry_id, entry)
    return entry


def table_row(name: str, entry_id: str, entry: dict, where: str | None = None) -> list[float]:
    """Return one entry's row of table ``name`` in its :class:`Table` column order."""
    if name == "models":
        return _model_row(entry_id, entry, where or "models.csv")
    parameters = _numeric(_schema(name)["parameters"])
    return [
        entry.get(p, np.nan if spec.get("absent") == "nan" else 0.0)
        for p, spec in parameters.items()
    ]


def _numeric(parameters: dict) -> dict:
    """Return the schema parameters that are numbers (labels are kept in :attr:`Catalog.labels`)."""
    return {p: spec for p, spec in parameters.items() if spec["quantity"] != "category"}


#: catalog -> pairs of parameters (a, b) of one id that must satisfy a <= b
_ORDERED: dict[str, tuple[tuple[str, str], ...]] = {
    "hardware": (("idle_power", "tdp"),),
    "models": (
        ("active_params", "total_params"),
        ("n_kv_heads", "n_heads"),
        ("moe_top_k", "moe_experts"),
        ("moe_dense_layers", "layers"),
    ),
}


def _dense(ids: tuple[str, ...], entries: dict[str, dict], parameters: dict) -> np.ndarray:
    """Return the dense table of ``entries``.

    An absent parameter is 0, or NaN if its schema says ``absent: nan`` (an unknown price
    must not read as free).
    """
    parameters = _numeric(parameters)
    columns = tuple(parameters)
    values = np.zeros((len(ids), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        absent = np.nan if parameters[column].get("absent") == "nan" else 0.0
        for i, entry_id in enumerate(ids):
            values[i, j] = entries[entry_id].get(column, absent)
    return np.ascontiguousarray(values)


def _model_row(model_id: str, entry: dict, where: str = "models.csv") -> list[float]:
    """Derive the kernel's model columns from one model's architecture."""
    # (imported here: the module also holds jitted functions, and importing Numba costs
    # ``fleetsim --help`` half a second)
    from fleetsim.physics.model_shapes import (
        activation_elements_per_token,
        sparse_indexer_coefficients,
    )

    kind = entry["attention_kind"]
    if kind == "mla" and not ("kv_lora_rank" in entry and "rope_head_dim" in entry):
        raise CatalogError(
            where, f"{model_id}: attention_kind mla needs kv_lora_rank and rope_head_dim"
        )
    if kind != "mla" and "n_kv_heads" not in entry:
        raise CatalogError(where, f"{model_id}: attention_kind {kind} needs n_kv_heads")
    layers = int(entry["layers"])
    full, bounded, span, kept = _attention_parts(model_id, entry, where)
    kv, attention = _attention_coefficients(kind, full, entry)
    kv_b, attention_b = _attention_coefficients(kind, bounded, entry)
    if "sparse_attention_top_k" in entry:  # the indexer scores every context token
        kv, attention = sparse_indexer_coefficients(
            layers, int(entry["sparse_indexer_heads"]), int(entry["sparse_indexer_head_dim"])
        )
    experts = entry.get("moe_experts", 0.0)
    missing_moe = [p for p in ("moe_top_k", "moe_expert_ffn_dim") if p not in entry]
    if experts and missing_moe:
        raise CatalogError(
            where, f"{model_id}: moe_experts={experts:g} needs {', '.join(missing_moe)}"
        )
    moe_layers = layers - entry.get("moe_dense_layers", 0.0) if experts else 0.0
    # SwiGLU expert: gate, up and down projections of d_model x expert width
    expert_params = (
        3.0 * entry["d_model"] * entry.get("moe_expert_ffn_dim", 0.0) if experts else 0.0
    )
    dense_params = entry["total_params"] - moe_layers * experts * expert_params
    if dense_params <= 0.0:
        raise CatalogError(
            where,
            f"{model_id}: routed experts ({moe_layers * experts * expert_params:.4g} params) "
            f"exceed total_params ({entry['total_params']:.4g}); check moe_* rows",
        )
    return [
        entry["total_params"],
        entry["active_params"],
        float(layers),
        entry["d_model"],
        kv,
        attention,
        kv_b,
        attention_b,
        span,
        kept,
        dense_params,
        expert_params,
        moe_layers,
        experts,
        entry.get("moe_top_k", 0.0),
        entry["max_context"],
        # ways the KV cache splits over tensor-parallel devices: by KV head; MLA's one latent
        # is shared by all heads, so every device of an attention group holds it whole
        1.0 if kind == "mla" else float(entry["n_kv_heads"]),
        *activation_elements_per_token(
            kind,
            layers,
            int(moe_layers),
            int(entry["d_model"]),
            int(entry["n_heads"]),
            int(entry.get("n_kv_heads", 0)),
            int(entry["head_dim"]),
            int(entry.get("ffn_dim", 0)),
            int(entry.get("moe_shared_experts", 0) * entry.get("moe_expert_ffn_dim", 0)),
            int(entry.get("kv_lora_rank", 0)),
            int(entry.get("rope_head_dim", 0)),
        ),
    ]


def _attention_coefficients(kind: str, layers: int, entry: dict) -> tuple[float, float]:
    """Return (KV elements per token, attention FLOPs per context token) of ``layers`` layers."""
    from fleetsim.physics.model_shapes import (
        attention_flops_per_context_token,
        kv_elements_per_token,
    )

    args = (int(entry.get("kv_lora_rank", 0)), int(entry.get("rope_head_dim", 0)))
    head_dim = int(entry["head_dim"])
    return (
        kv_elements_per_token(kind, layers, int(entry.get("n_kv_heads", 0)), head_dim, *args),
        attention_flops_per_context_token(kind, layers, int(entry["n_heads"]), head_dim, *args),
    )


def _attention_parts(
    model_id: str, entry: dict, where: str = "models.csv"
) -> tuple[int, int, float, float]:
    """Return (full layers, bounded layers, span, kept) of one model's attention.

    Local attention bounds ``local_attention_layers`` layers by ``attention_window`` (their KV
    is dropped beyond it); sparse attention bounds every layer's main attention by
    ``sparse_attention_top_k`` selected tokens (their KV is kept) and adds an indexer that sees
    the whole context.
    """
    layers = int(entry["layers"])
    local, sparse = "local_attention_layers" in entry, "sparse_attention_top_k" in entry
    if local and sparse:
        raise CatalogError(
            where,
            f"{model_id}: local_attention_layers and sparse_attention_top_k together; "
            "allowed: one of them",
        )
    if local:
        if "attention_window" not in entry:
            raise CatalogError(where, f"{model_id}: local_attention_layers needs attention_window")
        n_local = int(entry["local_attention_layers"])
        if n_local > layers:
            raise CatalogError(
                where,
                f"{model_id}: local_attention_layers={n_local} exceeds layers={layers}",
            )
        return layers - n_local, n_local, entry["attention_window"], 0.0
    if "attention_window" in entry:
        raise CatalogError(where, f"{model_id}: attention_window needs local_attention_layers")
    if sparse:
        missing = [p for p in ("sparse_indexer_heads", "sparse_indexer_head_dim") if p not in entry]
        if missing:
            raise CatalogError(
                where, f"{model_id}: sparse_attention_top_k needs {', '.join(missing)}"
            )
        return 0, layers, entry["sparse_attention_top_k"], 1.0
    return layers, 0, 0.0, 0.0


def _checksum(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in {".csv", ".yaml"}:
            digest.update(path.relative_to(directory).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def table_ids(name: str) -> tuple[str, ...]:
    """Return the ids of catalog table ``name``, its rows checked (``--help`` lists them).

    What ``load().ids()[name]`` gives, without deriving the tables (so without importing the
    physics and Numba).
    """
    return _table_ids(paths.data_dir())[name]


@cache
def _table_ids(directory: Path) -> dict[str, tuple[str, ...]]:
    sources = _load_sources(directory)
    return {name: _load_table(directory, name, sources)[0] for name in TABLES}


@cache
def load(directory: Path | None = None) -> Catalog:
    """Load and check every catalog.

    Parameters
    ----------
    directory : Path, optional
        Catalog folder; default :func:`fleetsim.paths.data_dir`. Schemas always come from
        :func:`fleetsim.paths.schema_dir`.

    Returns
    -------
    Catalog
        Tables in SI units, sources, and the SHA-256 of the catalog files.

    Raises
    ------
    CatalogError
        Naming file, line, id, parameter, value and what is allowed.
    """
    directory = Path(directory) if directory is not None else paths.data_dir()
    if not (directory / "sources.csv").is_file():
        raise CatalogError(str(directory), "not a catalog folder (no sources.csv)")
    sources = _load_sources(directory)
    tables: dict[str, Table] = {}
    classes: tuple[str, ...] = ()
    labels: dict[str, dict[str, dict[str, str]]] = {}
    for name in TABLES:
        ids, entries = _load_table(directory, name, sources)
        if name == "models":
            classes = tuple(efficiency.model_class(entries[i]) for i in ids)
            values = np.array([_model_row(i, entries[i]) for i in ids], dtype=np.float64).reshape(
                len(ids), -1
            )
            tables[name] = Table(ids, MODEL_COLUMNS, np.ascontiguousarray(values))
        else:
            parameters = _schema(name)["parameters"]
            columns = tuple(_numeric(parameters))
            tables[name] = Table(ids, columns, _dense(ids, entries, parameters))
        labels[name] = {i: {p: v for p, v in entries[i].items() if isinstance(v, str)} for i in ids}
    scales = efficiency.load_scales(directory, tables["hardware"].ids, sources)
    return Catalog(tables, sources, _checksum(directory), scales, classes, labels)
