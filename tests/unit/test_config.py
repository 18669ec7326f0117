from __future__ import annotations

import logging
import re
from pathlib import Path

import attrs
import orjson
import pytest
from hypothesis import given, strategies as st

from pyrt.config import (
    _SECRET_KEY,
    ALPACA_PAPER_URL,
    Credentials,
    ExecutionConfig,
    MarketDataConfig,
    PyrtConfig,
    RiskConfig,
    RunConfig,
    SignalConfig,
    StrategyConfig,
    config_to_dict,
    load_config,
    parse_override,
)
from pyrt.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "config.json"
SPEC = REPO / "specs" / "config.md"
KEY_ID = "PKTESTKEY0001234"
SECRET = "sEcReT-value-that-must-never-leak-9f8e7d"
CREDS_ENV = {"APCA_API_KEY_ID": KEY_ID, "APCA_API_SECRET_KEY": SECRET}


def write(tmp_path: Path, data: object, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else orjson.dumps(data))
    return path


def problems(exc_info: pytest.ExceptionInfo[ConfigError]) -> set[str]:
    return set(exc_info.value.errors)


# --- defaults and the example file ---


def test_load_without_file_gives_defaults():
    config = load_config(env={})

    assert config == PyrtConfig()
    assert config.symbols == ("AAPL", "MSFT")
    assert config.market_data.zmq_publish_address == "tcp://127.0.0.1:5555"
    assert config.signal.zmq_publish_address == "tcp://127.0.0.1:5556"
    assert config.risk.zmq_publish_address == "tcp://127.0.0.1:5557"
    assert config.execution.zmq_subscribe_address == "tcp://127.0.0.1:5557"
    assert config.execution.max_retries == 3
    assert config.execution.rate_limit_per_minute == 200
    assert config.risk.starting_cash == 100000.0
    assert config.run.data_dir == Path("data")
    assert config.run.venue == "local"
    assert dict(config.strategy.params) == {"fast": 2, "slow": 5, "quantity": 10}
    assert config.credentials is None


def test_load_empty_object_file_gives_defaults(tmp_path):
    path = write(tmp_path, {})

    assert load_config(path, env={}) == PyrtConfig()


def test_load_example_file_equals_defaults():
    assert load_config(EXAMPLE, env={}) == PyrtConfig()


def test_example_file_spells_out_every_key():
    assert orjson.loads(EXAMPLE.read_bytes()) == config_to_dict(PyrtConfig())


def _leaf_keys(data: dict[str, object], section: str = "(top)") -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for key, value in data.items():
        if isinstance(value, dict) and section == "(top)":
            keys |= _leaf_keys(value, key)
        else:
            keys.add((section, key))
    return keys


def test_spec_table_documents_every_key():
    rows = re.findall(r"^\| `(\w+)` \| (`\w+`|\(top\)) \|", SPEC.read_text(), flags=re.MULTILINE)
    documented = {(section.strip("`"), key) for key, section in rows}

    assert documented == _leaf_keys(config_to_dict(PyrtConfig()))


# --- every problem at once ---


def test_load_with_every_key_wrong_lists_each_problem_once(tmp_path):
    path = write(
        tmp_path,
        {
            "symbols": ["aapl", "MSFT", "MSFT"],
            "unknown_top": 1,
            "market_data": {"zmq_publish_address": "tcp://localhost", "reconnect_delay_secs": 0},
            "signal": {"bar_interval_secs": "60"},
            "risk": {
                "max_order_size": -5,
                "max_position_size": "nan",
                "max_daily_loss": -1e308,
                "max_gross_exposure": 0,
                "max_ordr_size": 1,
            },
            "execution": {"max_retries": 2.5, "rate_limit_per_minute": True, "max_slippage_bps": 1e9},
            "run": {"venue": "ftp://example.com", "seed": -1, "data_dir": ""},
            "strategy": {"name": "9lives", "params": {"fast": None}},
        },
    )

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={"APCA_API_BASE_URL": "not a url"})

    assert exc_info.value.source == str(path)
    assert problems(exc_info) == {
        "$.unknown_top: unknown key; expected one of: symbols, market_data, signal, risk, execution, run, strategy",
        "$.risk.max_ordr_size: unknown key (did you mean 'max_order_size'?); expected one of: "
        "zmq_subscribe_address, zmq_publish_address, max_position_size, max_order_size, max_daily_loss, "
        "max_gross_exposure, starting_cash, max_order_notional, max_position_value, max_open_orders, "
        "max_orders_per_second, max_orders_per_minute, price_collar_bps, max_quote_age_secs",
        "env APCA_API_BASE_URL: must be an http(s) URL",
        "$.symbols: must be upper-case symbols like 'AAPL' or 'BTC/USD', was [0] 'aapl'; "
        "must not repeat a symbol, repeated 'MSFT'",
        "$.market_data.zmq_publish_address: must look like 'tcp://host:port', was 'tcp://localhost'",
        "$.market_data.reconnect_delay_secs: must be in (0, 3600], was 0.0",
        "$.signal.bar_interval_secs: must be a number, was '60'",
        "$.risk.max_position_size: must be a number, was 'nan'",
        "$.risk.max_order_size: must be > 0, was -5.0",
        "$.risk.max_daily_loss: must be > 0, was -1e+308",
        "$.risk.max_gross_exposure: must be > 0, was 0.0",
        "$.execution.max_slippage_bps: must be in [0, 10000], was 1000000000.0",
        "$.execution.max_retries: must be an integer, was 2.5",
        "$.execution.rate_limit_per_minute: must be an integer, was True",
        "$.run.venue: must be one of 'local', 'sim', 'alpaca' or an http(s) URL, was 'ftp://example.com'",
        "$.run.seed: must be in [0, 9223372036854775807], was -1",
        "$.run.data_dir: must be a non-empty path string, was ''",
        "$.strategy.name: must be a registered name or an import path 'package.module:Class', was '9lives'",
        "$.strategy.params: must map names to numbers, strings or booleans, was ['fast'] None",
    }
    assert len(exc_info.value.errors) == len(problems(exc_info))
    assert isinstance(exc_info.value, ValueError)
    assert str(exc_info.value).startswith(f"invalid {path} (19 problem(s)):\n  - ")


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("risk", "max_order_size", "5", "must be a number, was '5'"),
        ("risk", "max_order_size", True, "must be a number, was True"),
        ("risk", "max_order_size", None, "must be a number, was None"),
        ("risk", "max_gross_exposure", "inf", "must be a number, was 'inf'"),
        ("risk", "max_order_notional", 0, "must be > 0, was 0.0"),
        ("risk", "max_position_value", -1.0, "must be > 0, was -1.0"),
        ("risk", "max_open_orders", 0, "must be in [1, 100000], was 0"),
        ("risk", "max_open_orders", 2.0, "must be an integer, was 2.0"),
        ("risk", "max_orders_per_second", 0, "must be in [1, 100000], was 0"),
        ("risk", "max_orders_per_minute", 1_000_001, "must be in [1, 1000000], was 1000001"),
        ("risk", "price_collar_bps", 0, "must be in (0, 10000], was 0.0"),
        ("risk", "price_collar_bps", "5", "must be a number, was '5'"),
        ("risk", "max_quote_age_secs", 86400.5, "must be in (0, 86400], was 86400.5"),
        ("execution", "max_retries", 3.0, "must be an integer, was 3.0"),
        ("execution", "max_retries", "3", "must be an integer, was '3'"),
        ("execution", "max_retries", 101, "must be in [0, 100], was 101"),
        ("execution", "rate_limit_per_minute", 0, "must be in [1, 100000], was 0"),
        ("execution", "max_slippage_bps", -0.5, "must be in [0, 10000], was -0.5"),
        ("run", "seed", 2**63, "must be in [0, 9223372036854775807], was 9223372036854775808"),
        ("run", "venue", 5, "must be a string, was 5"),
        ("strategy", "params", [1], "must be an object of names to values, was [1]"),
    ],
)
def test_load_with_wrong_value_names_key_path_and_value(tmp_path, section, key, value, expected):
    path = write(tmp_path, {section: {key: value}})

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert exc_info.value.errors == (f"$.{section}.{key}: {expected}",)


@pytest.mark.parametrize(
    ("symbols", "expected"),
    [
        ("AAPL", "must be a list of strings, was 'AAPL'"),
        ([], "must list at least one symbol, was []"),
        (["AAPL", 5], "must be a list of strings, was [1] 5"),
        (
            ["AAPL", "btc/usd", "M SFT"],
            "must be upper-case symbols like 'AAPL' or 'BTC/USD', was [1] 'btc/usd', [2] 'M SFT'",
        ),
    ],
)
def test_load_with_bad_symbols_names_each_bad_item(tmp_path, symbols, expected):
    path = write(tmp_path, {"symbols": symbols})

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert exc_info.value.errors == (f"$.symbols: {expected}",)


def test_load_with_crypto_and_class_share_symbols_accepts_them(tmp_path):
    path = write(tmp_path, {"symbols": ["BTC/USD", "BRK.B", "SPY"]})

    assert load_config(path, env={}).symbols == ("BTC/USD", "BRK.B", "SPY")


@pytest.mark.parametrize(
    "address",
    ["tcp://127.0.0.1:5555", "tcp://*:5556", "tcp://localhost:1", "tcp://[::1]:65535", "tcp://127.0.0.1:*"],
)
def test_address_when_well_formed_is_accepted(address):
    assert MarketDataConfig(zmq_publish_address=address).zmq_publish_address == address


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:5555", "must look like 'tcp://host:port', was '127.0.0.1:5555'"),
        ("tcp://127.0.0.1", "must look like 'tcp://host:port', was 'tcp://127.0.0.1'"),
        ("ipc:///tmp/x", "must look like 'tcp://host:port', was 'ipc:///tmp/x'"),
        ("tcp://127.0.0.1:0", "port must be in [1, 65535] (or '*'), was 'tcp://127.0.0.1:0'"),
        ("tcp://127.0.0.1:70000", "port must be in [1, 65535] (or '*'), was 'tcp://127.0.0.1:70000'"),
    ],
)
def test_address_when_malformed_is_rejected(address, expected):
    with pytest.raises(ValueError, match=f"^zmq_publish_address {re.escape(expected)}$"):
        MarketDataConfig(zmq_publish_address=address)


def test_load_when_order_size_exceeds_position_size_reports_risk_section(tmp_path):
    path = write(tmp_path, {"risk": {"max_order_size": 2000, "max_position_size": 1000}})

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert exc_info.value.errors == (
        "$.risk: max_order_size must be <= max_position_size, was 2000.0 > 1000.0",
    )


def test_load_when_order_rate_per_second_exceeds_per_minute_reports_both_cross_checks(tmp_path):
    path = write(
        tmp_path,
        {
            "risk": {
                "max_order_size": 2000,
                "max_position_size": 1000,
                "max_orders_per_second": 300,
                "max_orders_per_minute": 200,
            }
        },
    )

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert exc_info.value.errors == (
        "$.risk: max_order_size must be <= max_position_size, was 2000.0 > 1000.0; "
        "max_orders_per_second must be <= max_orders_per_minute, was 300 > 200",
    )


def test_risk_limits_may_each_be_switched_off_with_null(tmp_path):
    keys = (
        "max_order_notional",
        "max_position_value",
        "max_open_orders",
        "max_orders_per_second",
        "max_orders_per_minute",
        "price_collar_bps",
        "max_quote_age_secs",
    )
    path = write(tmp_path, {"risk": dict.fromkeys(keys)})

    config = load_config(path, env={})

    assert [getattr(config.risk, key) for key in keys] == [None] * len(keys)
    per_minute_off = load_config(env={}, overrides={"risk.max_orders_per_minute": None})
    assert per_minute_off.risk.max_orders_per_second == 10  # the cross-check needs both


def test_default_risk_limits_let_the_demo_order_through():
    from pyrt.risk.limits import RiskLimits

    risk = RiskConfig()
    limits = RiskLimits.from_config(risk, allowed_symbols=("AAPL", "MSFT"))

    # tests/unit/test_risk.py runs the SMA demo's order flow through these
    assert (limits.max_order_notional, limits.max_position_value) == (50_000.0, 100_000.0)
    assert (limits.max_open_orders, limits.max_orders_per_second, limits.max_orders_per_minute) == (
        50,
        10,
        200,
    )
    assert (limits.price_collar_bps, limits.max_quote_age_secs) == (500.0, 60.0)
    assert limits.allowed_symbols == frozenset({"AAPL", "MSFT"})


def test_load_when_two_sections_publish_on_one_address_reports_clash(tmp_path):
    path = write(tmp_path, {"signal": {"zmq_publish_address": "tcp://127.0.0.1:5555"}})

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert exc_info.value.errors == (
        "$: zmq_publish_address must differ between sections: "
        "market_data and signal both publish on 'tcp://127.0.0.1:5555'",
    )


def test_load_when_section_is_not_an_object_reports_it(tmp_path):
    path = write(tmp_path, {"risk": [1, 2], "run": None})

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert problems(exc_info) == {
        "$.risk: must be an object (a section), was [1, 2]",
        "$.run: must be an object (a section), was None",
    }


# --- files that are not config ---


def test_load_invalid_json_reports_line_and_column(tmp_path):
    path = write(tmp_path, b'{\n  "symbols": ["AAPL",,]\n}\n')

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert exc_info.value.errors == (
        "$: not valid JSON at line 2, column 22: unexpected character, expected a JSON value",
    )
    assert exc_info.value.source == str(path)


def test_load_nan_literal_is_not_json(tmp_path):
    path = write(tmp_path, b'{"risk": {"max_order_size": NaN}}')

    with pytest.raises(ConfigError, match=r"not valid JSON at line 1, column 29"):
        load_config(path, env={})


def test_load_zero_length_file_is_an_error_not_defaults(tmp_path):
    path = write(tmp_path, b"")

    with pytest.raises(ConfigError, match=r"not valid JSON at line 1, column 1"):
        load_config(path, env={})


def test_load_top_level_array_is_rejected(tmp_path):
    path = write(tmp_path, [])

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert exc_info.value.errors == ("$: must be a JSON object, was list",)


def test_load_missing_file_raises_config_error_naming_it(tmp_path):
    path = tmp_path / "absent.json"

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert exc_info.value.errors == ("$: cannot read the file: No such file or directory",)
    assert exc_info.value.source == str(path)


# --- overrides and environment ---


def test_overrides_apply_on_top_of_file(tmp_path):
    path = write(tmp_path, {"symbols": ["SPY"], "risk": {"max_order_size": 10, "max_daily_loss": 99}})

    config = load_config(
        path,
        env={},
        overrides={"risk.max_order_size": 50, "symbols": ["QQQ", "IWM"], "execution.max_retries": 0},
    )

    assert config.risk.max_order_size == 50.0
    assert config.risk.max_daily_loss == 99.0  # the file's other keys in the section stay
    assert config.symbols == ("QQQ", "IWM")
    assert config.execution.max_retries == 0


def test_override_inside_params_keeps_other_default_params():
    config = load_config(env={}, overrides={"strategy.params.fast": 5, "strategy.params.note": "x"})

    assert dict(config.strategy.params) == {"fast": 5, "slow": 5, "quantity": 10, "note": "x"}


def test_override_of_whole_section_replaces_it(tmp_path):
    path = write(tmp_path, {"risk": {"max_daily_loss": 99}})

    config = load_config(path, env={}, overrides={"risk": {"max_order_size": 7}})

    assert config.risk == RiskConfig(max_order_size=7.0)


def test_override_does_not_mutate_caller_value():
    section = {"max_order_size": 7}

    load_config(env={}, overrides={"risk": section, "risk.max_daily_loss": 1})

    assert section == {"max_order_size": 7}


def test_overrides_are_validated_and_named(tmp_path):
    path = write(tmp_path, {"risk": {"max_order_size": 10}})

    with pytest.raises(ConfigError) as exc_info:
        load_config(
            path,
            env={},
            overrides={"risk.max_order_size": -5, "risk.max_ordr": 1, "symbols.first": "A", "risk..x": 1},
        )

    assert problems(exc_info) == {
        "$.risk.max_order_size: must be > 0, was -5.0 (set by override 'risk.max_order_size')",
        "$.risk.max_ordr: unknown key (did you mean 'max_order_size'?); expected one of: "
        "zmq_subscribe_address, zmq_publish_address, max_position_size, max_order_size, max_daily_loss, "
        "max_gross_exposure, starting_cash, max_order_notional, max_position_value, max_open_orders, "
        "max_orders_per_second, max_orders_per_minute, price_collar_bps, max_quote_age_secs "
        "(set by override 'risk.max_ordr')",
        "override 'symbols.first': $.symbols is not a section",
        "override 'risk..x': must be a dotted key like 'risk.max_order_size'",
    }


def test_data_dir_env_overrides_file_and_override_beats_env(tmp_path):
    path = write(tmp_path, {"run": {"data_dir": "from-file"}})
    env = {"PYRT_DATA_DIR": "/srv/pyrt"}

    from_env = load_config(path, env=env)
    from_override = load_config(path, env=env, overrides={"run.data_dir": "from-flag"})
    from_file = load_config(path, env={"PYRT_DATA_DIR": ""})

    assert from_env.run.data_dir == Path("/srv/pyrt")
    assert from_override.run.data_dir == Path("from-flag")
    assert from_file.run.data_dir == Path("from-file")


def test_data_dir_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))

    config = load_config(env={"PYRT_DATA_DIR": "~/pyrt"})

    assert config.run.data_dir == tmp_path / "pyrt"


def test_load_without_env_argument_reads_os_environ(monkeypatch):
    monkeypatch.setenv("PYRT_DATA_DIR", "/from/os/environ")
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    monkeypatch.delenv("APCA_API_BASE_URL", raising=False)

    assert load_config().run.data_dir == Path("/from/os/environ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("risk.max_order_size=50", ("risk.max_order_size", 50)),
        ("risk.max_order_size=50.5", ("risk.max_order_size", 50.5)),
        ('symbols=["SPY", "QQQ"]', ("symbols", ["SPY", "QQQ"])),
        ("run.venue=sim", ("run.venue", "sim")),
        ("run.data_dir=./d=1", ("run.data_dir", "./d=1")),
        ("risk.max_gross_exposure=null", ("risk.max_gross_exposure", None)),
        (" strategy.params.flag =true", ("strategy.params.flag", True)),
    ],
)
def test_parse_override_reads_json_or_plain_string(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["risk.max_order_size", "=5", ""])
def test_parse_override_without_key_and_value_raises(text):
    with pytest.raises(ConfigError, match=r"must look like 'key=value'"):
        parse_override(text)


def test_parsed_override_string_for_number_is_rejected():
    key, value = parse_override("risk.max_order_size=fifty")

    with pytest.raises(ConfigError) as exc_info:
        load_config(env={}, overrides={key: value})

    assert exc_info.value.errors == (
        "$.risk.max_order_size: must be a number, was 'fifty' (set by override 'risk.max_order_size')",
    )


# --- secrets ---


def test_credentials_come_from_env():
    config = load_config(env={**CREDS_ENV, "APCA_API_BASE_URL": "https://api.alpaca.markets"})

    assert config.credentials == Credentials(
        key_id=KEY_ID, secret_key=SECRET, base_url="https://api.alpaca.markets"
    )


def test_credentials_default_to_paper_url():
    config = load_config(env=CREDS_ENV)

    assert config.credentials is not None
    assert config.credentials.base_url == ALPACA_PAPER_URL


def test_secret_never_in_repr_str_or_dict(caplog):
    caplog.set_level(logging.DEBUG)

    config = load_config(env=CREDS_ENV, overrides={"run.venue": "alpaca"})

    assert config.credentials is not None
    for text in (repr(config), str(config), repr(config.credentials), str(config.credentials)):
        assert SECRET not in text
        assert KEY_ID not in text
        assert "PK****1234" in text
    assert "credentials" not in config_to_dict(config)
    assert SECRET.encode() not in orjson.dumps(config_to_dict(config))
    assert SECRET not in caplog.text


def test_short_key_id_is_fully_masked():
    assert repr(Credentials(key_id="PK12", secret_key=SECRET)) == (
        f"Credentials(key_id='****', base_url='{ALPACA_PAPER_URL}')"
    )


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"api_key": SECRET}, "$.api_key"),
        ({"APCA_API_SECRET_KEY": SECRET}, "$.APCA_API_SECRET_KEY"),
        ({"credentials": {"key_id": "PK1", "secret_key": SECRET}}, "$.credentials"),
        ({"execution": {"secret_key": SECRET}}, "$.execution.secret_key"),
        ({"execution": {"apiKey": SECRET}}, "$.execution.apiKey"),
        ({"run": {"password": SECRET}}, "$.run.password"),
        ({"strategy": {"params": {"auth_token": SECRET}}}, "$.strategy.params.auth_token"),
    ],
)
def test_load_file_with_secret_like_key_is_rejected_without_echoing_it(tmp_path, data, where):
    path = write(tmp_path, data)

    with pytest.raises(ConfigError) as exc_info:
        load_config(path, env={})

    assert exc_info.value.errors == (
        f"{where}: secrets are never read from the config file; "
        "set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment",
    )
    assert SECRET not in str(exc_info.value)


def test_override_with_secret_like_key_is_rejected():
    with pytest.raises(ConfigError) as exc_info:
        load_config(env={}, overrides={"execution.api_secret": SECRET})

    assert len(exc_info.value.errors) == 1
    assert exc_info.value.errors[0].startswith("$.execution.api_secret: secrets are never read")
    assert SECRET not in str(exc_info.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"APCA_API_KEY_ID": KEY_ID}, "env APCA_API_SECRET_KEY: must be set when APCA_API_KEY_ID is set"),
        ({"APCA_API_SECRET_KEY": SECRET}, "env APCA_API_KEY_ID: must be set when APCA_API_SECRET_KEY is set"),
        (
            {**CREDS_ENV, "APCA_API_SECRET_KEY": SECRET + " "},
            "env APCA_API_SECRET_KEY: must not contain whitespace",
        ),
        (
            {**CREDS_ENV, "APCA_API_BASE_URL": "paper-api.alpaca.markets"},
            "env APCA_API_BASE_URL: must be an http(s) URL",
        ),
    ],
)
def test_bad_credential_env_is_reported_without_values(env, expected):
    with pytest.raises(ConfigError) as exc_info:
        load_config(env=env)

    assert exc_info.value.errors == (expected,)
    assert SECRET not in str(exc_info.value)
    assert KEY_ID not in str(exc_info.value)


def test_alpaca_venue_without_credentials_is_rejected():
    with pytest.raises(ConfigError) as exc_info:
        load_config(env={}, overrides={"run.venue": "alpaca"})

    assert exc_info.value.errors == (
        "env APCA_API_KEY_ID, APCA_API_SECRET_KEY: must be set when run.venue is 'alpaca'",
    )


def test_url_venue_without_credentials_is_accepted():
    config = load_config(env={}, overrides={"run.venue": "http://127.0.0.1:8080"})

    assert config.run.venue == "http://127.0.0.1:8080"
    assert config.credentials is None


# --- the classes themselves ---


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RiskConfig(max_order_size=-5), r"^max_order_size must be > 0, was -5$"),
        (
            lambda: RiskConfig(max_daily_loss=float("nan")),
            r"^max_daily_loss must be a finite number, was nan$",
        ),
        (
            lambda: RiskConfig(max_gross_exposure=float("inf")),
            r"^max_gross_exposure must be a finite number, was inf$",
        ),
        (lambda: ExecutionConfig(max_retries=-1), r"^max_retries must be in \[0, 100\], was -1$"),
        (
            lambda: PyrtConfig(symbols=("AAPL", "AAPL")),
            r"^symbols must not repeat a symbol, repeated 'AAPL'$",
        ),
        (
            lambda: RunConfig(venue="paper"),
            r"^venue must be one of 'local', 'sim', 'alpaca' or an http\(s\) URL",
        ),
        (
            lambda: StrategyConfig(params={"fast": float("nan")}),
            r"^params \['fast'\] must be finite, was nan$",
        ),
        (lambda: SignalConfig(bar_interval_secs=0), r"^bar_interval_secs must be in \(0, 86400\], was 0$"),
    ],
)
def test_constructing_invalid_config_in_code_fails_fast(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_config_is_immutable():
    config = PyrtConfig()

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.symbols = ("SPY",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.strategy.params["fast"] = 1  # type: ignore[index]
    assert hash(config) == hash(PyrtConfig())


def test_strategy_accepts_import_path_name():
    config = load_config(env={}, overrides={"strategy.name": "my_pkg.strategies:MeanReversion"})

    assert config.strategy.name == "my_pkg.strategies:MeanReversion"


# --- round trip ---

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_PARAM_NAMES = st.text(_LOWER + "_", min_size=1, max_size=12).filter(
    lambda name: _SECRET_KEY.search(name) is None
)
_SYMBOLS = st.builds(
    lambda head, tail, suffix: head + tail + suffix,
    st.sampled_from(_UPPER),
    st.text(_UPPER + "0123456789", max_size=4),
    st.sampled_from(["", "", "/USD", ".B"]),
)
_DATA_DIRS = st.lists(st.text(_LOWER + "0123456789_", min_size=1, max_size=8), min_size=1, max_size=3).map(
    "/".join
)
_PARAM_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(st.characters(codec="utf-8"), max_size=10),
)
_POSITIVE = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False)


def _address(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


@st.composite
def configs(draw: st.DrawFn) -> PyrtConfig:
    ports = draw(st.lists(st.integers(1, 65535), min_size=7, max_size=7, unique=True))
    order, position = sorted(draw(st.lists(_POSITIVE, min_size=2, max_size=2)))
    per_second, per_minute = sorted(draw(st.lists(st.integers(1, 100_000), min_size=2, max_size=2)))
    return PyrtConfig(
        symbols=tuple(draw(st.lists(_SYMBOLS, min_size=1, max_size=5, unique=True))),
        market_data=MarketDataConfig(
            zmq_publish_address=_address(ports[0]),
            reconnect_delay_secs=draw(st.floats(min_value=1e-3, max_value=3600.0)),
        ),
        signal=SignalConfig(
            zmq_subscribe_address=_address(ports[1]),
            zmq_publish_address=_address(ports[2]),
            bar_interval_secs=draw(st.floats(min_value=1e-3, max_value=86400.0)),
        ),
        risk=RiskConfig(
            zmq_subscribe_address=_address(ports[3]),
            zmq_publish_address=_address(ports[4]),
            max_position_size=position,
            max_order_size=order,
            max_daily_loss=draw(_POSITIVE),
            max_gross_exposure=draw(st.none() | _POSITIVE),
            starting_cash=draw(_POSITIVE),
            max_order_notional=draw(st.none() | _POSITIVE),
            max_position_value=draw(st.none() | _POSITIVE),
            max_open_orders=draw(st.none() | st.integers(1, 100_000)),
            max_orders_per_second=per_second,
            max_orders_per_minute=per_minute,
            price_collar_bps=draw(st.none() | st.floats(min_value=1e-3, max_value=10000.0)),
            max_quote_age_secs=draw(st.none() | st.floats(min_value=1e-3, max_value=86400.0)),
        ),
        execution=ExecutionConfig(
            zmq_subscribe_address=_address(ports[5]),
            max_slippage_bps=draw(st.floats(min_value=0.0, max_value=10000.0)),
            max_retries=draw(st.integers(0, 100)),
            rate_limit_per_minute=draw(st.integers(1, 100_000)),
        ),
        run=RunConfig(
            venue=draw(
                st.sampled_from(["local", "sim", "alpaca", "http://127.0.0.1:8080", "https://x.example"])
            ),
            seed=draw(st.integers(0, 2**63 - 1)),
            data_dir=Path(draw(st.sampled_from(["", "/"])) + draw(_DATA_DIRS)),
        ),
        strategy=StrategyConfig(
            name=draw(st.sampled_from(["sma_crossover", "pkg.mod:Cls", "breakout"])),
            params=draw(st.dictionaries(_PARAM_NAMES, _PARAM_VALUES, max_size=5)),
        ),
    )


@given(config=configs())
def test_any_valid_config_round_trips_through_dict_and_file(tmp_path_factory, config):
    path = tmp_path_factory.getbasetemp() / "round_trip.json"
    path.write_bytes(orjson.dumps(config_to_dict(config)))
    env = CREDS_ENV if config.run.venue == "alpaca" else {}

    loaded = load_config(path, env=env)

    assert attrs.evolve(loaded, credentials=None) == config
    assert config_to_dict(loaded) == config_to_dict(config)


@given(config=configs())
def test_any_valid_config_round_trips_through_overrides(config):
    env = CREDS_ENV if config.run.venue == "alpaca" else {}

    loaded = load_config(env=env, overrides=config_to_dict(config))

    assert attrs.evolve(loaded, credentials=None) == config


def test_symbol_rule_matches_the_message_validators():
    from pyrt._validators import SYMBOL as MESSAGE_SYMBOL
    from pyrt.config import _SYMBOL as CONFIG_SYMBOL

    assert CONFIG_SYMBOL.pattern == MESSAGE_SYMBOL.pattern


def test_strategy_problems_are_listed_with_the_files_other_problems() -> None:
    seen: list[object] = []

    def check(strategy: object) -> list[str]:
        seen.append(strategy)
        return ["$.strategy.params: fast must be >= 1, was -3"]

    with pytest.raises(ConfigError) as info:
        load_config(
            env={},
            overrides={"risk.max_order_size": -5, "strategy.params.fast": -3},
            check_strategy=check,
        )

    assert len(info.value.errors) == 2
    assert any(e.startswith("$.risk.max_order_size") for e in info.value.errors)
    assert "$.strategy.params: fast must be >= 1, was -3" in info.value.errors
    assert len(seen) == 1
