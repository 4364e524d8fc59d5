"""instance/ is for its owner only: the databases hold card numbers, password hashes and secrets."""
import os
import stat
from pathlib import Path

import pytest

from app import create_app
from app.common.instance import read_or_create_secret
from app.extensions import db
from config import TestConfig

from ..support import make_app


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def usual_umask():
    """The umask most machines have (022), under which SQLite creates world-readable files."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def database_files(instance):
    return sorted(p for p in Path(instance).iterdir() if ".sqlite" in p.name)


@pytest.mark.sqlite_only("the SQLite files' modes; PostgreSQL's databases are not files in instance/")
def test_a_new_instance_folder_and_its_databases_are_owner_only(tmp_path, usual_umask):
    instance = tmp_path / "instance"
    app = make_app(instance)  # migrates and seeds: every database is created and written

    with app.app_context():
        assert mode(instance) == 0o700
        files = database_files(instance)
        assert {p.name for p in files} >= {"paylab.sqlite", "shop.sqlite", "bank.sqlite", "idp.sqlite"}
        assert any(p.name.endswith("-wal") for p in files), "WAL mode: SQLite's companions must be checked too"
        for path in files:  # -wal and -shm get the database file's mode from SQLite
            assert mode(path) == 0o600, f"{path.name} is {oct(mode(path))}"
        for path in Path(instance).iterdir():
            assert mode(path) & 0o077 == 0, f"{path.name} is {oct(mode(path))}"
        for engine in db.engines.values():
            engine.dispose()


def test_an_instance_left_open_is_tightened_at_start_up(tmp_path, usual_umask):
    instance = tmp_path / "instance"
    with make_app(instance).app_context():
        for engine in db.engines.values():
            engine.dispose()
    instance.chmod(0o755)
    for path in database_files(instance):
        path.chmod(0o644)
    (instance / "bank.sqlite-wal").touch(mode=0o644)

    create_app(TestConfig, instance_path=str(instance))

    assert mode(instance) == 0o700
    for path in database_files(instance):
        assert mode(path) == 0o600, f"{path.name} is {oct(mode(path))}"


def test_a_generated_secret_is_owner_only_and_leaves_no_temporary_file(tmp_path, usual_umask):
    value = read_or_create_secret(tmp_path / "instance", "some-secret")
    again = read_or_create_secret(tmp_path / "instance", "some-secret", lambda: "another")
    assert value == again and len(value) == 64
    assert mode(tmp_path / "instance" / "some-secret") == 0o600
    assert [p.name for p in (tmp_path / "instance").iterdir()] == ["some-secret"]
