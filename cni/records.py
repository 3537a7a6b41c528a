"""Dataclass-like records for the plugin, without importing ``dataclasses``.

``import dataclasses`` pulls in ``inspect``, ``ast``, ``dis``, ``tokenize``, ``re``
and ``enum``: about 13 ms on every CNI call, more than the interpreter's own start
(measured with ``python3 -X importtime -IS``). The plugin runs once per call, so
its records use this small stand-in at run time, while type checkers see the real
``dataclasses.dataclass`` (``cni.contract`` imports it under ``TYPE_CHECKING``) and
check every constructor call as usual.

What it supports is what the plugin uses: annotated fields in order, defaults and
``field(default_factory=...)``, keyword or positional construction, ``==``,
``repr``, ``frozen=True`` (read-only and hashable), and :func:`asdict`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

    C = TypeVar("C", bound=type)

_MISSING: Any = object()


class _Field:
    __slots__ = ("default", "factory")

    def __init__(self, default: Any, factory: Optional[Callable[[], Any]]) -> None:
        self.default = default
        self.factory = factory


def field(*, default: Any = _MISSING, default_factory: Optional[Callable[[], Any]] = None) -> Any:
    """``dataclasses.field`` for records: a default or a default factory."""
    return _Field(default, default_factory)


def _fields_of(cls: type) -> Tuple[Tuple[str, Any], ...]:
    found: Dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        # no inspect.get_annotations: importing inspect is what this module avoids
        for name in klass.__dict__.get("__annotations__", {}):  # noqa: RUF063
            value = klass.__dict__.get(name, _MISSING)
            found[name] = value if isinstance(value, _Field) else _Field(value, None)
    return tuple(found.items())


def record(cls: Optional[C] = None, *, frozen: bool = False) -> Any:
    """Decorate ``cls`` like ``@dataclass`` / ``@dataclass(frozen=True)``."""

    def wrap(klass: C) -> C:
        _install(klass, _fields_of(klass), frozen=frozen)
        return klass

    return wrap if cls is None else wrap(cls)


def _install(klass: type, specs: Tuple[Tuple[str, Any], ...], *, frozen: bool) -> None:
    names = tuple(name for name, _ in specs)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{klass.__name__}() takes {len(names)} arguments")
        values = dict(zip(names, args))  # noqa: B905 (strict= is Python >= 3.10)
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"{klass.__name__}() got an unexpected or repeated {key!r}")
            values[key] = value
        for name, spec in specs:
            if name not in values:
                if spec.factory is not None:
                    values[name] = spec.factory()
                elif spec.default is not _MISSING:
                    values[name] = spec.default
                else:
                    raise TypeError(f"{klass.__name__}() missing argument {name!r}")
            object.__setattr__(self, name, values[name])

    def __eq__(self: Any, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{klass.__name__}({inner})"

    klass.__init__ = __init__  # type: ignore[misc]
    klass.__eq__ = __eq__  # type: ignore[method-assign,assignment]
    klass.__repr__ = __repr__  # type: ignore[method-assign,assignment]
    klass.__record_fields__ = names  # type: ignore[attr-defined]
    if frozen:

        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise AttributeError(f"cannot assign to field {name!r} of a frozen {klass.__name__}")

        def __hash__(self: Any) -> int:
            return hash(tuple(getattr(self, n) for n in names))

        klass.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
        klass.__delattr__ = __setattr__  # type: ignore[method-assign,assignment]
        klass.__hash__ = __hash__  # type: ignore[method-assign,assignment]
    else:
        klass.__hash__ = None  # type: ignore[assignment]


def asdict(obj: Any) -> Dict[str, Any]:
    """A record as plain dicts and lists, recursively (``dataclasses.asdict``)."""
    names = getattr(type(obj), "__record_fields__", None)
    if names is None and hasattr(obj, "__dataclass_fields__"):  # a real dataclass
        names = tuple(obj.__dataclass_fields__)
    if names is None:
        raise TypeError(f"asdict() needs a record, got {type(obj).__name__}")
    return {name: _plain(getattr(obj, name)) for name in names}


def _plain(value: Any) -> Any:
    if hasattr(type(value), "__record_fields__") or hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
