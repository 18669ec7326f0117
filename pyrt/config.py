"""pyrt's configuration: frozen attrs sections loaded from JSON, environment variables and overrides.

The file keeps the seed's grouping and key names::

    {
      "symbols": ["AAPL", "MSFT"],
      "market_data": {"zmq_publish_address": "tcp://127.0.0.1:5555", "reconnect_delay_secs": 5.0},
      "signal": {...}, "risk": {...}, "execution": {...}, "run": {...}, "strategy": {...}
    }

Every key has a default, so ``{}`` (or no file at all) is a valid configuration. ``specs/config.md``
lists every key with its type, default and bounds; ``examples/config.json`` spells out the defaults.

Values are layered, later wins: defaults < file < environment (``PYRT_DATA_DIR``) < ``overrides``
(dotted keys from CLI flags). The result is validated once, and every problem found (unknown key,
wrong type, out-of-range value, bad environment variable) is reported together in one
:class:`~pyrt.errors.ConfigError`, one line per problem, each naming its key path
(``$.risk.max_order_size: must be > 0, was -5.0``).

Alpaca credentials come only from the environment (``APCA_API_KEY_ID``, ``APCA_API_SECRET_KEY``,
optional ``APCA_API_BASE_URL``), never from the file, and never appear in a repr, an error message
or :func:`config_to_dict`.
"""

from __future__ import annotations

import collections
import copy
import difflib
import logging
import math
import os
import re
import types
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Generic, TypeAlias, TypeVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.orjson import make_converter as _make_orjson_converter

from ._validators import SYMBOL as _SYMBOL
from .errors import ConfigError

__all__ = [
    "ALPACA_PAPER_URL",
    "ENV_BASE_URL",
    "ENV_DATA_DIR",
    "ENV_KEY_ID",
    "ENV_SECRET_KEY",
    "VENUE_NAMES",
    "Credentials",
    "ExecutionConfig",
    "MarketDataConfig",
    "ParamValue",
    "PyrtConfig",
    "RiskConfig",
    "RunConfig",
    "SignalConfig",
    "StrategyConfig",
    "config_to_dict",
    "load_config",
    "parse_override",
]

logger = logging.getLogger(__name__)

ALPACA_PAPER_URL: Final = "https://paper-api.alpaca.markets"
"""Where :class:`Credentials` point when ``APCA_API_BASE_URL`` is not set: paper trading, never live."""

ENV_KEY_ID: Final = "APCA_API_KEY_ID"
ENV_SECRET_KEY: Final = "APCA_API_SECRET_KEY"
ENV_BASE_URL: Final = "APCA_API_BASE_URL"
ENV_DATA_DIR: Final = "PYRT_DATA_DIR"

VENUE_NAMES: Final = ("local", "sim", "alpaca")

# Same shape as the message validators accept, so a configured symbol never fails in a message
_ADDRESS: Final = re.compile(
    r"^tcp://(?P<host>\*|[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\*|[0-9]{1,5})$"
)
_STRATEGY_NAME: Final = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?$"
)
_PARAM_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Key names that look like credentials: rejected anywhere in the file, whatever their value
_SECRET_KEY: Final = re.compile(
    r"secret|passw(or)?d|passphrase|api_?key|key_?id|private_?key|token|credential|^apca", re.IGNORECASE
)
_SECRET_HINT: Final = (
    f"secrets are never read from the config file; set {ENV_KEY_ID} and {ENV_SECRET_KEY} in the environment"
)
_MAX_SEED: Final = 2**63 - 1

T = TypeVar("T")
ParamValue: TypeAlias = str | bool | int | float
"""A strategy parameter's value: what JSON has besides null, lists and objects."""


# --- checks: one text per rule, used both by attrs validators and by the loader's cattrs hooks ---


@attrs.frozen(kw_only=True)
class _Check(Generic[T]):
    # An attrs validator whose problem text the loader reuses without the field name, so a value
    # built in code and a value read from a file fail with the same words
    problem: Callable[[T], str | None]

    def __call__(self, _inst: object, attribute: attrs.Attribute[T], value: T) -> None:
        text = self.problem(value)
        if text is not None:
            raise ValueError(f"{attribute.name} {text}")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _positive(value: float) -> str | None:
    if not math.isfinite(value):
        return f"must be a finite number, was {value!r}"
    if not value > 0.0:
        return f"must be > 0, was {value!r}"
    return None


def _optional_positive(value: float | None) -> str | None:
    return None if value is None else _positive(value)


def _float_range(low: float, high: float, *, low_open: bool) -> Callable[[float], str | None]:
    def problem(value: float) -> str | None:
        if not math.isfinite(value):
            return f"must be a finite number, was {value!r}"
        too_low = value <= low if low_open else value < low
        if too_low or value > high:
            left = "(" if low_open else "["
            return f"must be in {left}{low:g}, {high:g}], was {value!r}"
        return None

    return problem


def _int_range(low: int, high: int) -> Callable[[int], str | None]:
    def problem(value: int) -> str | None:
        if not low <= value <= high:
            return f"must be in [{low}, {high}], was {value!r}"
        return None

    return problem


def _optional(check: Callable[[T], str | None]) -> Callable[[T | None], str | None]:
    def problem(value: T | None) -> str | None:
        return None if value is None else check(value)

    return problem


def _optional_int_range(low: int, high: int) -> Callable[[int | None], str | None]:
    return _optional(_int_range(low, high))


def _address(value: str) -> str | None:
    match = _ADDRESS.match(value)
    if match is None:
        return f"must look like 'tcp://host:port', was {_show(value)}"
    port = match["port"]
    if port != "*" and not 1 <= int(port) <= 65535:
        return f"port must be in [1, 65535] (or '*'), was {_show(value)}"
    return None


def _symbols(value: tuple[str, ...]) -> str | None:
    if not value:
        return "must list at least one symbol, was []"
    problems: list[str] = []
    bad = [f"[{i}] {_show(s)}" for i, s in enumerate(value) if _SYMBOL.match(s) is None]
    if bad:
        problems.append(f"must be upper-case symbols like 'AAPL' or 'BTC/USD', was {', '.join(bad)}")
    duplicates = sorted(symbol for symbol, count in collections.Counter(value).items() if count > 1)
    if duplicates:
        problems.append(f"must not repeat a symbol, repeated {', '.join(map(repr, duplicates))}")
    return "; ".join(problems) or None


def _venue(value: str) -> str | None:
    if value in VENUE_NAMES or _http_url(value):
        return None
    return f"must be one of {', '.join(map(repr, VENUE_NAMES))} or an http(s) URL, was {_show(value)}"


def _http_url(value: str) -> bool:
    parts = urllib.parse.urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _strategy_name(value: str) -> str | None:
    if _STRATEGY_NAME.match(value) is None:
        return f"must be a registered name or an import path 'package.module:Class', was {_show(value)}"
    return None


def _params(value: Mapping[str, ParamValue]) -> str | None:
    problems: list[str] = []
    for name, item in value.items():
        if _PARAM_NAME.match(name) is None:
            problems.append(f"name {_show(name)} must be an identifier")
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append(f"[{name!r}] must be finite, was {item!r}")
    return "; ".join(problems) or None


def _freeze_params(value: Mapping[str, ParamValue]) -> Mapping[str, ParamValue]:
    # A read-only copy: the config is shared by every actor and must not change under them
    return types.MappingProxyType(dict(value))


_DEFAULT_STRATEGY: Final = "sma_crossover"


def _default_params() -> Mapping[str, ParamValue]:
    return {"fast": 2, "slow": 5, "quantity": 10}


def _mask_key_id(key_id: str) -> str:
    return repr(f"{key_id[:2]}****{key_id[-4:]}" if len(key_id) >= 12 else "****")


# --- the configuration ---


@attrs.frozen(kw_only=True)
class Credentials:
    """Alpaca API credentials, read from the environment only.

    The secret never appears in ``repr``; the key id appears masked (``PK****1234``).
    """

    key_id: str = attrs.field(repr=_mask_key_id)
    """``APCA_API_KEY_ID``."""
    secret_key: str = attrs.field(repr=False)
    """``APCA_API_SECRET_KEY``."""
    base_url: str = ALPACA_PAPER_URL
    """``APCA_API_BASE_URL``: the trading API root; paper trading unless set."""


@attrs.frozen(kw_only=True)
class MarketDataConfig:
    """The market data actor: where it publishes and how it reconnects."""

    zmq_publish_address: str = attrs.field(default="tcp://127.0.0.1:5555", validator=_Check(problem=_address))
    """ZeroMQ PUB address for market data (``market.*`` topics) when actors run as processes."""
    reconnect_delay_secs: float = attrs.field(
        default=5.0, validator=_Check(problem=_float_range(0.0, 3600.0, low_open=True))
    )
    """Delay before reconnecting a dropped market data stream, in seconds."""


@attrs.frozen(kw_only=True)
class SignalConfig:
    """The signal actor: market data in, ``signal.generated`` out."""

    zmq_subscribe_address: str = attrs.field(
        default="tcp://127.0.0.1:5555", validator=_Check(problem=_address)
    )
    """ZeroMQ SUB address it reads market data from."""
    zmq_publish_address: str = attrs.field(default="tcp://127.0.0.1:5556", validator=_Check(problem=_address))
    """ZeroMQ PUB address for signals."""
    bar_interval_secs: float = attrs.field(
        default=0.5, validator=_Check(problem=_float_range(0.0, 86400.0, low_open=True))
    )
    """Length of the bars the strategy sees, in seconds (a whole number of milliseconds).

    The default (0.5 s, with SMA 2/5) is a demo setting that trades within seconds on the
    embedded venue; a real deployment sets 60 and its own strategy periods."""


# RiskConfig's optional limits: typed as optional so attrs fields infer `float | None` / `int | None`
_NOTIONAL_DEFAULT: Final[float | None] = 50000.0
_POSITION_VALUE_DEFAULT: Final[float | None] = 100000.0
_OPEN_ORDERS_DEFAULT: Final[int | None] = 50
_PER_SECOND_DEFAULT: Final[int | None] = 10
_PER_MINUTE_DEFAULT: Final[int | None] = 200
_COLLAR_DEFAULT: Final[float | None] = 500.0
_QUOTE_AGE_DEFAULT: Final[float | None] = 60.0


@attrs.frozen(kw_only=True)
class RiskConfig:
    """The risk actor's limits (each a hard limit: an order that would break it is rejected)."""

    zmq_subscribe_address: str = attrs.field(
        default="tcp://127.0.0.1:5556", validator=_Check(problem=_address)
    )
    """ZeroMQ SUB address it reads signals from."""
    zmq_publish_address: str = attrs.field(default="tcp://127.0.0.1:5557", validator=_Check(problem=_address))
    """ZeroMQ PUB address for approved orders."""
    max_position_size: float = attrs.field(default=1000.0, validator=_Check(problem=_positive))
    """Largest absolute position per symbol, in shares (units)."""
    max_order_size: float = attrs.field(default=500.0, validator=_Check(problem=_positive))
    """Largest single order, in shares (units); at most ``max_position_size``."""
    max_daily_loss: float = attrs.field(default=5000.0, validator=_Check(problem=_positive))
    """Realised plus unrealised loss in a trading day, in account currency, that stops new orders."""
    max_gross_exposure: float | None = attrs.field(default=None, validator=_Check(problem=_optional_positive))
    """Largest sum of absolute position values, in account currency; ``None``: no limit."""
    starting_cash: float = attrs.field(default=100000.0, validator=_Check(problem=_positive))
    """Cash the sim venue's account starts with, in account currency."""
    max_order_notional: float | None = attrs.field(
        default=_NOTIONAL_DEFAULT, validator=_Check(problem=_optional_positive)
    )
    """Largest quantity × price of one order, in account currency; ``None``: no limit."""
    max_position_value: float | None = attrs.field(
        default=_POSITION_VALUE_DEFAULT, validator=_Check(problem=_optional_positive)
    )
    """Largest absolute position value per symbol (open orders included), in account currency."""
    max_open_orders: int | None = attrs.field(
        default=_OPEN_ORDERS_DEFAULT, validator=_Check(problem=_optional_int_range(1, 100_000))
    )
    """Most orders approved and not yet ended, over all symbols; ``None``: no limit."""
    max_orders_per_second: int | None = attrs.field(
        default=_PER_SECOND_DEFAULT, validator=_Check(problem=_optional_int_range(1, 100_000))
    )
    """Most orders approved within any one second; ``None``: no limit."""
    max_orders_per_minute: int | None = attrs.field(
        default=_PER_MINUTE_DEFAULT, validator=_Check(problem=_optional_int_range(1, 1_000_000))
    )
    """Most orders approved within any sixty seconds; ``None``: no limit."""
    price_collar_bps: float | None = attrs.field(
        default=_COLLAR_DEFAULT,
        validator=_Check(problem=_optional(_float_range(0.0, 10000.0, low_open=True))),
    )
    """Largest distance of a limit or reference price from the last mark, in basis points (fat-finger guard)."""
    max_quote_age_secs: float | None = attrs.field(
        default=_QUOTE_AGE_DEFAULT,
        validator=_Check(problem=_optional(_float_range(0.0, 86400.0, low_open=True))),
    )
    """Oldest market data an order may be checked against, in seconds; ``None``: no staleness check."""

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if self.max_order_size > self.max_position_size:
            problems.append(
                f"max_order_size must be <= max_position_size, "
                f"was {self.max_order_size!r} > {self.max_position_size!r}"
            )
        per_second, per_minute = self.max_orders_per_second, self.max_orders_per_minute
        if per_second is not None and per_minute is not None and per_second > per_minute:
            problems.append(
                f"max_orders_per_second must be <= max_orders_per_minute, was {per_second!r} > {per_minute!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))


@attrs.frozen(kw_only=True)
class ExecutionConfig:
    """The execution actor: how orders reach the venue."""

    zmq_subscribe_address: str = attrs.field(
        default="tcp://127.0.0.1:5557", validator=_Check(problem=_address)
    )
    """ZeroMQ SUB address it reads approved orders from."""
    max_slippage_bps: float = attrs.field(
        default=50.0, validator=_Check(problem=_float_range(0.0, 10000.0, low_open=False))
    )
    """Largest accepted distance of a limit price from the reference price, in basis points."""
    max_retries: int = attrs.field(default=3, validator=_Check(problem=_int_range(0, 100)))
    """Retries of a retryable venue error (transport, 429, 5xx) before giving up on a request."""
    rate_limit_per_minute: int = attrs.field(default=200, validator=_Check(problem=_int_range(1, 100_000)))
    """Most venue requests per minute (Alpaca allows 200)."""
    reconcile_interval_secs: float = attrs.field(
        default=30.0, validator=_Check(problem=_float_range(0.0, 86400.0, low_open=False))
    )
    """Seconds between reconciliations with the venue while running (account id, positions);
    a changed account or positions that differ halt trading. 0 turns it off."""
    max_order_age_secs: float = attrs.field(
        default=5.0, validator=_Check(problem=_float_range(0.0, 3600.0, low_open=True))
    )
    """How long after risk approved it an order may still be sent (each retry included); later it
    becomes ``order.rejected`` with reason ``stale`` (after a lookup, if it may be at the venue)."""
    max_in_flight_orders: int = attrs.field(default=8, validator=_Check(problem=_int_range(1, 1000)))
    """Orders submitted concurrently at most; approvals beyond wait in order (and may go stale)."""


@attrs.frozen(kw_only=True)
class RunConfig:
    """How a run is assembled: venue, seed and where its files go."""

    venue: str = attrs.field(default="local", validator=_Check(problem=_venue))
    """``"local"`` (embedded Alpaca-compatible server), ``"sim"``, ``"alpaca"`` or an http(s) URL."""
    seed: int = attrs.field(default=0, validator=_Check(problem=_int_range(0, _MAX_SEED)))
    """Root of every random draw in the run: same seed, same simulation."""
    data_dir: Path = Path("data")
    """Journal and database directory; relative paths resolve against the working directory."""


@attrs.frozen(kw_only=True)
class StrategyConfig:
    """Which strategy runs and its parameters (the data only; the strategy code lives elsewhere)."""

    name: str = attrs.field(default="sma_crossover", validator=_Check(problem=_strategy_name))
    """A registered strategy name or an import path ``package.module:Class``."""
    params: Mapping[str, ParamValue] = attrs.field(
        default=attrs.Factory(
            lambda self: _default_params() if self.name == _DEFAULT_STRATEGY else {}, takes_self=True
        ),
        converter=_freeze_params,
        validator=_Check(problem=_params),
        hash=False,
    )
    """Keyword parameters for the strategy (read-only): names to numbers, strings or booleans.
    Default: ``fast=2 slow=5 quantity=10`` for ``sma_crossover``; none for any other strategy."""


@attrs.frozen(kw_only=True)
class PyrtConfig:
    """A whole pyrt configuration. ``PyrtConfig()`` is the default configuration."""

    symbols: tuple[str, ...] = attrs.field(default=("AAPL", "MSFT"), validator=_Check(problem=_symbols))
    """Symbols to trade: upper case, no repeats, at least one."""
    market_data: MarketDataConfig = attrs.field(factory=MarketDataConfig)
    signal: SignalConfig = attrs.field(factory=SignalConfig)
    risk: RiskConfig = attrs.field(factory=RiskConfig)
    execution: ExecutionConfig = attrs.field(factory=ExecutionConfig)
    run: RunConfig = attrs.field(factory=RunConfig)
    strategy: StrategyConfig = attrs.field(factory=StrategyConfig)
    credentials: Credentials | None = None
    """Alpaca credentials from the environment; never read from a file or written by :func:`config_to_dict`."""

    def __attrs_post_init__(self) -> None:
        publishers = {
            "market_data": self.market_data.zmq_publish_address,
            "signal": self.signal.zmq_publish_address,
            "risk": self.risk.zmq_publish_address,
        }
        by_address: dict[str, list[str]] = {}
        for section, address in publishers.items():
            if not address.endswith(":*"):  # ephemeral ports never clash
                by_address.setdefault(address, []).append(section)
        clashes = [f"{' and '.join(s)} both publish on {a!r}" for a, s in by_address.items() if len(s) > 1]
        if clashes:
            raise ValueError(f"zmq_publish_address must differ between sections: {'; '.join(clashes)}")


_SECTIONS: Final = (MarketDataConfig, SignalConfig, RiskConfig, ExecutionConfig, RunConfig, StrategyConfig)
for _cls in (*_SECTIONS, Credentials, PyrtConfig):
    attrs.resolve_types(_cls)


# --- the converter ---


def _structure_float(value: object, _type: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number, was {_show(value)}")
    try:
        return float(value)
    except OverflowError:  # an int beyond float range, only possible from overrides
        raise ValueError(f"must be a finite number, was {_show(value)}") from None


def _structure_int(value: object, _type: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"must be an integer, was {_show(value)}")
    return value


def _structure_str(value: object, _type: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, was {_show(value)}")
    return value


def _structure_bool(value: object, _type: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"must be true or false, was {_show(value)}")
    return value


def _structure_path(value: object, _type: type) -> Path:
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise TypeError(f"must be a non-empty path string, was {_show(value)}")
    return Path(value).expanduser()


def _structure_str_tuple(value: object, _type: type) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"must be a list of strings, was {_show(value)}")
    bad = [f"[{i}] {_show(item)}" for i, item in enumerate(value) if not isinstance(item, str)]
    if bad:
        raise TypeError(f"must be a list of strings, was {', '.join(bad)}")
    return tuple(value)


def _structure_params(value: object, _type: type) -> dict[str, ParamValue]:
    if not isinstance(value, Mapping):
        raise TypeError(f"must be an object of names to values, was {_show(value)}")
    bad = [
        f"[{name!r}] {_show(item)}"
        for name, item in value.items()
        if not isinstance(name, str) or not isinstance(item, ParamValue)
    ]
    if bad:
        # Report the names and values that do have a JSON type as well: every problem at once
        rest = _params({k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, ParamValue)})
        text = f"must map names to numbers, strings or booleans, was {', '.join(bad)}"
        raise TypeError(text if rest is None else f"{text}; {rest}")
    return dict(value)


def _checked(
    hook: Callable[[object, type], T], check: Callable[[T], str | None]
) -> Callable[[object, type], T]:
    def structure(value: object, type_: type) -> T:
        result = hook(value, type_)
        problem = check(result)
        if problem is not None:
            raise ValueError(problem)
        return result

    return structure


def _make_converter() -> cattrs.Converter:
    conv = _make_orjson_converter(forbid_extra_keys=True, detailed_validation=True)
    # JSON's types are taken as they are: "5" is not a number and 2.5 is not an int
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_str_tuple)
    conv.register_structure_hook(Path, _structure_path)
    conv.register_unstructure_hook(Path, os.fspath)
    conv.register_structure_hook_func(lambda t: t == Mapping[str, ParamValue], _structure_params)
    for cls in (*_SECTIONS, PyrtConfig):
        # Each field's own check runs inside its structure hook, so cattrs collects every bad field
        # with its path instead of stopping at the first validator that raises in __init__
        overrides = {}
        for field in attrs.fields(cls):
            if isinstance(field.validator, _Check):
                hook = _checked(conv.get_structure_hook(field.type), field.validator.problem)
                overrides[field.name] = override(struct_hook=hook)
        if cls is PyrtConfig:
            overrides["credentials"] = override(omit=True)
        hook_fn = make_dict_structure_fn(cls, conv, **overrides)  # type: ignore[arg-type]  # cattrs types **kwargs as its own flags, not the per-field overrides it also takes
        conv.register_structure_hook(cls, hook_fn)
    conv.register_unstructure_hook(
        PyrtConfig, make_dict_unstructure_fn(PyrtConfig, conv, credentials=override(omit=True))
    )
    return conv


_CONVERTER: Final = _make_converter()
_DEFAULTS: Final[dict[str, object]] = _CONVERTER.unstructure(PyrtConfig(), PyrtConfig)


# --- loading ---


def _format_exception(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    if isinstance(exc, ValueError | TypeError) and str(exc):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _read(path: str | os.PathLike[str], source: str) -> dict[str, object]:
    try:
        payload = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"$: cannot read the file: {exc.strerror or exc}"], source=source) from exc
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(
            [f"$: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"], source=source
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError([f"$: must be a JSON object, was {type(data).__name__}"], source=source)
    return data


def _apply_override(data: dict[str, object], key: str, value: object, problems: list[str]) -> None:
    parts = key.split(".")
    if not all(parts):
        problems.append(f"override {key!r}: must be a dotted key like 'risk.max_order_size'")
        return
    node = data
    default: object = _DEFAULTS
    for depth, part in enumerate(parts[:-1]):
        default = default.get(part) if isinstance(default, dict) else None
        if part not in node:
            # Start from the defaults so 'strategy.params.fast' keeps the other default params
            node[part] = {} if default is None else copy.deepcopy(default)
        child = node[part]
        if not isinstance(child, dict):
            where = "$." + ".".join(parts[: depth + 1])
            problems.append(f"override {key!r}: {where} is not a section")
            return
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def _drop_default_params(
    data: dict[str, object], file_had_params: bool, overrides: Mapping[str, object]
) -> None:
    # The default params are the default strategy's (issue #4): another strategy, named in the file
    # or by --strategy, gets only the params some layer gave, not sma_crossover's defaults that
    # _apply_override copied in
    strategy = data.get("strategy")
    if not isinstance(strategy, dict) or strategy.get("name", _DEFAULT_STRATEGY) == _DEFAULT_STRATEGY:
        return
    whole = file_had_params or any(
        key == "strategy.params" or (key == "strategy" and isinstance(value, dict) and "params" in value)
        for key, value in overrides.items()
    )
    if not whole:
        strategy["params"] = {
            key.removeprefix("strategy.params."): copy.deepcopy(value)
            for key, value in overrides.items()
            if key.startswith("strategy.params.")
        }


def _scan_secrets(value: object, path: str, problems: list[str]) -> object:
    # Drops credential-like keys below a free-form mapping (strategy.params) and reports each
    if not isinstance(value, dict):
        return value
    kept: dict[str, object] = {}
    for key, item in value.items():
        if _SECRET_KEY.search(str(key)):
            problems.append(f"{path}.{key}: {_SECRET_HINT}")
        else:
            kept[key] = _scan_secrets(item, f"{path}.{key}", problems)
    return kept


def _check_keys(data: dict[str, object], cls: type, path: str, problems: list[str]) -> dict[str, object]:
    # cattrs stops at the first unknown key of a section, so unknown and secret-like keys are found
    # (every one of them) and dropped here, and cattrs then reports the rest
    fields = {f.name: f for f in attrs.fields(cls) if f.name != "credentials"}
    kept: dict[str, object] = {}
    for key, value in data.items():
        where = f"{path}.{key}"
        if _SECRET_KEY.search(key):
            problems.append(f"{where}: {_SECRET_HINT}")
            continue
        field = fields.get(key)
        if field is None:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            expected = ", ".join(fields)
            problems.append(f"{where}: unknown key{hint}; expected one of: {expected}")
            continue
        if isinstance(field.type, type) and attrs.has(field.type):
            if not isinstance(value, dict):
                problems.append(f"{where}: must be an object (a section), was {_show(value)}")
                continue
            value = _check_keys(value, field.type, where, problems)
        else:
            value = _scan_secrets(value, where, problems)
        kept[key] = value
    return kept


def _credentials(env: Mapping[str, str], problems: list[str]) -> Credentials | None:
    key_id = env.get(ENV_KEY_ID, "")
    secret_key = env.get(ENV_SECRET_KEY, "")
    base_url = env.get(ENV_BASE_URL, "")
    before = len(problems)
    # Values are never echoed: any of them may be a secret pasted into the wrong variable
    if base_url and not _http_url(base_url):
        problems.append(f"env {ENV_BASE_URL}: must be an http(s) URL")
    if key_id and not secret_key:
        problems.append(f"env {ENV_SECRET_KEY}: must be set when {ENV_KEY_ID} is set")
    if secret_key and not key_id:
        problems.append(f"env {ENV_KEY_ID}: must be set when {ENV_SECRET_KEY} is set")
    for name, value in ((ENV_KEY_ID, key_id), (ENV_SECRET_KEY, secret_key)):
        if value and (value != value.strip() or any(c.isspace() for c in value)):
            problems.append(f"env {name}: must not contain whitespace")
    if len(problems) > before or not (key_id and secret_key):
        return None
    return Credentials(key_id=key_id, secret_key=secret_key, base_url=base_url or ALPACA_PAPER_URL)


def _annotate(line: str, origins: Mapping[str, str]) -> str:
    path = line.split(":", 1)[0]
    for prefix, origin in origins.items():
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return f"{line} (set by {origin})"
    return line


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    check_strategy: Callable[[StrategyConfig], Sequence[str]] | None = None,
) -> PyrtConfig:
    """Load, layer and validate a configuration.

    Layers, later wins: defaults, the JSON file at ``path``, the environment (``PYRT_DATA_DIR``
    sets ``run.data_dir``), then ``overrides``. Alpaca credentials come from ``APCA_API_KEY_ID``,
    ``APCA_API_SECRET_KEY`` and ``APCA_API_BASE_URL`` in ``env`` only.

    Args:
        path: a JSON file; ``None`` uses the defaults (plus env and overrides).
        env: environment variables; ``None`` reads ``os.environ``.
        overrides: dotted keys to values, e.g. ``{"risk.max_order_size": 50, "symbols": ["SPY"]}``,
            typically from CLI flags. A value replaces what is at its key (a whole section too). Values
            must already have their JSON type: ``50``, not ``"50"`` (see :func:`parse_override`).
        check_strategy: validates the strategy section (its name loads, its params fit the
            strategy's ``Params``) and returns one line per problem, each naming its key path
            (``$.strategy.params: ...``); they are reported with the file's other problems, in
            one :class:`ConfigError`. This module knows no strategy code, so the caller (the
            CLI) passes it.

    Returns:
        The validated configuration, with ``credentials`` set when both key variables are.

    Raises:
        ConfigError: listing every problem: unreadable file, invalid JSON (with line and column),
            unknown or secret-like keys, wrong types, out-of-range values, bad environment variables,
            and ``run.venue == "alpaca"`` without credentials.
    """
    source = os.fspath(path) if path is not None else "config"
    env = os.environ if env is None else env
    data: dict[str, object] = _read(path, source) if path is not None else {}
    file_strategy = data.get("strategy")
    file_had_params = isinstance(file_strategy, dict) and "params" in file_strategy
    problems: list[str] = []
    origins: dict[str, str] = {}

    data_dir = env.get(ENV_DATA_DIR, "")
    if data_dir:  # empty counts as unset
        _apply_override(data, "run.data_dir", data_dir, problems)
        origins["$.run.data_dir"] = f"env {ENV_DATA_DIR}"
    for key, value in (overrides or {}).items():
        _apply_override(data, key, value, problems)
        origins[f"$.{key}"] = f"override {key!r}"

    _drop_default_params(data, file_had_params, overrides or {})
    cleaned = _check_keys(data, PyrtConfig, "$", problems)
    credentials = _credentials(env, problems)

    config: PyrtConfig | None = None
    try:
        config = _CONVERTER.structure(cleaned, PyrtConfig)
    except cattrs.ClassValidationError as exc:
        for line in cattrs.transform_error(exc, format_exception=_format_exception):
            message, _, where = line.rpartition(" @ ")
            problems.append(f"{where}: {message}")
    except (ValueError, TypeError) as exc:  # a cross-section check in PyrtConfig.__attrs_post_init__
        problems.append(f"$: {exc}")

    if check_strategy is not None:
        strategy = config.strategy if config is not None else _strategy_section(cleaned)
        if strategy is not None:
            problems.extend(check_strategy(strategy))

    run = cleaned.get("run")
    if isinstance(run, dict) and run.get("venue") == "alpaca" and credentials is None:
        problems.append(f"env {ENV_KEY_ID}, {ENV_SECRET_KEY}: must be set when run.venue is 'alpaca'")

    if problems or config is None:
        raise ConfigError([_annotate(p, origins) for p in problems], source=source)
    if credentials is not None:
        config = attrs.evolve(config, credentials=credentials)
    logger.debug("loaded config from %s", source)
    return config


def _strategy_section(cleaned: Mapping[str, object]) -> StrategyConfig | None:
    # The strategy section alone, when the file is bad elsewhere: its own problems are already
    # listed if it does not structure, so then there is nothing more to check
    section = cleaned.get("strategy", {})
    try:
        return _CONVERTER.structure(section, StrategyConfig)
    except (cattrs.BaseValidationError, ValueError, TypeError):
        return None


def config_to_dict(config: PyrtConfig) -> dict[str, object]:
    """Unstructure a configuration to JSON-ready data, without credentials.

    This is what the journal records as run metadata, and :func:`load_config` reads it back
    (written to a file) as an equal configuration.

    Args:
        config: the configuration.

    Returns:
        Plain dicts, lists, strings, numbers, booleans and ``None``, in the file's layout.
    """
    data: dict[str, object] = _CONVERTER.unstructure(config, PyrtConfig)
    return data


def parse_override(text: str) -> tuple[str, object]:
    """Split a CLI ``key=value`` flag into a dotted key and a JSON value for ``load_config(overrides=...)``.

    The value is read as JSON when it parses (``50``, ``true``, ``["SPY"]``, ``null``) and taken as a
    plain string otherwise (``sim``, ``./data``).

    Args:
        text: e.g. ``"risk.max_order_size=50"``.

    Returns:
        ``("risk.max_order_size", 50)``.

    Raises:
        ConfigError: ``text`` has no ``=`` or an empty key.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError([f"override {_show(text)}: must look like 'key=value'"], source="overrides")
    try:
        value: object = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return key, value
