"""Keras's ``serialize`` / ``deserialize`` / ``get`` for a family of small named objects (regularizers,
constraints): one implementation, each family naming its kind, its Keras module, its base class and its
classes by name."""
from __future__ import annotations

from .errors import ConfigError


class Catalogue:
    def __init__(self, kind: str, keras_module: str, base: type, by_name: dict[str, type]):
        self.kind, self.keras_module, self.base, self.by_name = kind, keras_module, base, by_name

    def serialize(self, obj) -> dict | None:
        """Keras's ``{"module", "class_name", "config", "registered_name"}`` (None stays None)."""
        if obj is None:
            return None
        return {"module": self.keras_module, "class_name": type(obj).__name__, "config": obj.get_config(),
                "registered_name": None}

    def _known(self) -> str:
        return ", ".join(sorted(self.by_name))

    def deserialize(self, config, custom_objects: dict | None = None):
        """The object a config describes (a name, or a dict with a class_name); None stays None."""
        if config is None:
            return None
        if isinstance(config, str):
            return self.get(config)
        if not isinstance(config, dict) or "class_name" not in config:
            raise ConfigError(f"A {self.kind} config must be a name or a dict with a class_name. "
                              f"Received: {config!r}")
        name = config["class_name"]
        cls = (custom_objects or {}).get(name) or self.by_name.get(name)
        if cls is None:
            raise ConfigError(f"Unknown {self.kind} {name!r}. Known: {self._known()}.")
        return cls.from_config(dict(config.get("config") or {}))

    def get(self, identifier):
        """The object from a name, a config dict, an instance or a callable; None stays None."""
        if identifier is None or isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            if identifier not in self.by_name:
                raise ConfigError(f"Unknown {self.kind} {identifier!r}. Known: {self._known()}.")
            return self.by_name[identifier]()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if callable(identifier):
            return identifier
        raise ConfigError(f"Could not interpret {self.kind} identifier: {identifier!r}")
