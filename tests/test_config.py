"""Settings (bot.config): defaults < TOML file < EDUBOT_* environment variables; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.encoders import DEFAULT_ENCODER


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # load_settings reads ./edubot.toml by default: run every test in an empty folder.
    monkeypatch.chdir(tmp_path)


def toml(tmp_path: Path, text: str, name: str = "edubot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings(env={})
    assert s == Settings()
    assert s.corpus_dir == Path("corpus") and s.index_dir == Path("index")
    assert s.encoder == DEFAULT_ENCODER
    assert s.traditional == "s2t" and s.default_lang == "zh-Hant"
    assert (s.chunk_size, s.chunk_overlap, s.top_k) == (400, 80, 5)
    assert s.auto_build is True
    assert s.telegram_token == "" and s.telegram_admin_ids == ()
    assert s.telegram_db == Path("edubot.sqlite")


def test_toml_file_values(tmp_path: Path) -> None:
    path = toml(tmp_path, """
corpus_dir = "~/docs/corpus"
index_dir = "idx"
encoder = "st:/models/e5"
traditional = "s2tw"
default_lang = "zh-Hans"
top_k = 8
auto_build = false
chunk-size = 300

[telegram]
admin_ids = [12345678, 42]
rate_limit = 3
db = "bot.sqlite"
api_base_url = "http://127.0.0.1:8081/bot"
""", "custom.toml")
    s = load_settings(path, env={})
    assert s.corpus_dir == Path("~/docs/corpus").expanduser()
    assert s.index_dir == Path("idx")
    assert s.encoder == "st:/models/e5"
    assert s.traditional == "s2tw" and s.default_lang == "zh-Hans"
    assert s.top_k == 8 and s.auto_build is False and s.chunk_size == 300
    assert s.telegram_admin_ids == (12345678, 42)
    assert s.telegram_rate_limit == 3
    assert s.telegram_db == Path("bot.sqlite")
    assert s.telegram_api_base_url == "http://127.0.0.1:8081/bot"


def test_edubot_toml_in_working_directory_is_read(tmp_path: Path) -> None:
    toml(tmp_path, 'top_k = 7\n')
    assert load_settings(env={}).top_k == 7


def test_edubot_config_env_names_the_file(tmp_path: Path) -> None:
    path = toml(tmp_path, 'top_k = 9\n', "elsewhere.toml")
    assert load_settings(env={"EDUBOT_CONFIG": str(path)}).top_k == 9


def test_env_overrides_file(tmp_path: Path) -> None:
    path = toml(tmp_path, 'top_k = 8\ntraditional = "s2tw"\n[telegram]\nadmin_ids = [1]\n')
    env = {"EDUBOT_TOP_K": "3", "EDUBOT_TRADITIONAL": "s2hk", "EDUBOT_TELEGRAM_ADMIN_IDS": "7, 8 9",
           "EDUBOT_AUTO_BUILD": "off", "EDUBOT_INDEX_DIR": "/tmp/idx"}
    s = load_settings(path, env=env)
    assert s.top_k == 3
    assert s.traditional == "s2hk"
    assert s.telegram_admin_ids == (7, 8, 9)
    assert s.auto_build is False
    assert s.index_dir == Path("/tmp/idx")


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("YES", True), (" on ", True),
                                                 ("0", False), ("False", False), ("no", False), ("off", False)])
def test_env_bools(value: str, expected: bool) -> None:
    assert load_settings(env={"EDUBOT_AUTO_BUILD": value}).auto_build is expected


def test_telegram_conventional_env_names() -> None:
    s = load_settings(env={"TELEGRAM_BOT_TOKEN": " 123:abc \n", "TELEGRAM_API_BASE_URL": "http://localhost:8081/bot"})
    assert s.telegram_token == "123:abc"
    assert s.telegram_api_base_url == "http://localhost:8081/bot"
    assert load_settings(env={"EDUBOT_TELEGRAM_TOKEN": "999:x"}).telegram_token == "999:x"


def test_token_is_not_in_repr() -> None:
    s = load_settings(env={"TELEGRAM_BOT_TOKEN": "123:secret-token"})
    assert "secret-token" not in repr(s)


def test_with_overrides() -> None:
    s = Settings().with_overrides(top_k="4", corpus_dir="c2", encoder=None)
    assert s.top_k == 4 and s.corpus_dir == Path("c2") and s.encoder == Settings().encoder
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        Settings().with_overrides(nope=1)


@pytest.mark.parametrize("value", ["maybe", "2", "", "tru"])
def test_bad_bool(value: str) -> None:
    with pytest.raises(ConfigError, match=r"setting auto_build: cannot use"):
        load_settings(env={"EDUBOT_AUTO_BUILD": value})


@pytest.mark.parametrize(("name", "value"), [("EDUBOT_TOP_K", "five"), ("EDUBOT_TELEGRAM_ADMIN_IDS", "12,abc"),
                                             ("EDUBOT_CHUNK_SIZE", "4.5")])
def test_bad_numbers(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match="cannot use"):
        load_settings(env={name: value})


def test_unknown_key_in_file(tmp_path: Path) -> None:
    path = toml(tmp_path, 'top_k = 5\ncorpus = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown setting 'corpus'") as info:
        load_settings(path, env={})
    assert str(path) in str(info.value)


def test_unknown_key_in_telegram_table(tmp_path: Path) -> None:
    path = toml(tmp_path, '[telegram]\ntoken_file = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting 'telegram_token_file'"):
        load_settings(path, env={})


@pytest.mark.parametrize("source", ["file", "env", "direct"])
def test_bad_traditional_config(tmp_path: Path, source: str) -> None:
    with pytest.raises(ConfigError, match=r"traditional = 't2s': choose one of s2t, s2tw, s2twp, s2hk"):
        if source == "file":
            load_settings(toml(tmp_path, 'traditional = "t2s"\n'), env={})
        elif source == "env":
            load_settings(env={"EDUBOT_TRADITIONAL": "t2s"})
        else:
            Settings(traditional="t2s")


@pytest.mark.parametrize(("kw", "message"), [({"default_lang": "en"}, "default_lang"), ({"faiss": "ivf"}, "faiss"),
                                             ({"log_format": "xml"}, "log_format"),
                                             ({"chunk_size": 40}, "chunk_size"),
                                             ({"chunk_size": 100, "chunk_overlap": 100}, "chunk_overlap")])
def test_bad_values_in_settings(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(**kw)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"config file .*nope\.toml not found"):
        load_settings(missing, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(env={"EDUBOT_CONFIG": str(missing)})


def test_invalid_toml(tmp_path: Path) -> None:
    path = toml(tmp_path, "top_k = = 5\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, env={})


def test_config_error_is_a_value_error_with_one_line() -> None:
    with pytest.raises(ValueError) as info:
        load_settings(env={"EDUBOT_TOP_K": "five"})
    assert "\n" not in str(info.value)
    assert str(info.value) == "setting top_k: cannot use 'five'"
