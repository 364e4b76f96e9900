"""Fixtures shared by the unit tests (helpers that are not fixtures live in specs.py)."""

import pytest


@pytest.fixture
def key(tmp_path) -> str:
    """A deployer's SSH key pair on disk, as deployer_ssh_key names it (not a real key)."""
    private = tmp_path / "id_ed25519"
    private.write_text("not a real key\n")
    (tmp_path / "id_ed25519.pub").write_text("ssh-ed25519 AAAAC3Nza deployer@laptop\n")
    return str(private)
