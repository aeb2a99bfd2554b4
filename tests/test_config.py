from docmgr.config import REPO_ROOT, load_config


def test_defaults_follow_the_contract(tmp_path, monkeypatch):
    for name in ("DOCMGR_DATABASE_URL", "DOCMGR_STORAGE_DIR", "DOCMGR_INDEX_DIR", "DOCMGR_SECRET_KEY", "DOCMGR_MAX_UPLOAD_MB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCMGR_STORAGE_DIR", str(tmp_path / "s"))
    config = load_config()
    assert config["STORAGE_DIR"] == tmp_path / "s"
    assert config["INDEX_DIR"] == REPO_ROOT / "search_index"
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 's' / 'docmgr.sqlite3'}"
    assert config["MAX_UPLOAD_MB"] == 50
    assert config["PASSWORD_HASH_METHOD"] == "scrypt"
    # The generated secret key is kept, so a restart keeps sessions and tokens valid.
    assert load_config()["SECRET_KEY"] == config["SECRET_KEY"]
    assert (tmp_path / "s" / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCMGR_STORAGE_DIR", "relative/store")
    monkeypatch.setenv("DOCMGR_MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("DOCMGR_SECRET_KEY", "k")
    monkeypatch.setenv("DOCMGR_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    config = load_config()
    assert config["STORAGE_DIR"] == REPO_ROOT / "relative" / "store"
    assert config["MAX_UPLOAD_BYTES"] == 2 * 1024 * 1024
    assert config["SECRET_KEY"] == "k"
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("x.db")
