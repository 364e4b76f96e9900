"""A config file's keys as the project's defaults merged with group_data's options for that file
(slurm_options for slurm.conf, sshd_options for the sshd drop-in): a key set there replaces the
default in place, None leaves it out, any other key is added after the defaults."""

from __future__ import annotations


class ConfigKeys:
    """For a template: `conf(key, default)` writes the key with the options' value where they set
    one (None: left out), else the default; `conf.rest()` is every option the template did not
    write. So a key appears once, wherever it is set. Both files' keys are case-insensitive, and so
    is the match."""

    def __init__(self, options: dict, source: str, separator: str):
        self.options = {key.lower(): (key, value) for key, value in options.items()}
        self.source = source
        self.separator = separator
        self.written: set[str] = set()

    def __call__(self, key: str, default) -> str:
        self.written.add(key.lower())
        key, value = self.options.get(key.lower(), (key, default))
        return f"# {key}: left out ({self.source})" if value is None else f"{key}{self.separator}{value}"

    def rest(self) -> list[tuple[str, object]]:
        return [(k, v) for low, (k, v) in self.options.items() if low not in self.written and v is not None]
