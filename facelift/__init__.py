"""FaceLift Workbench: 3D facial landmarks learned without 3D labels.

`facelift.predict(image_or_path)` gives every face's landmarks and pose; `facelift.pretrained("cpu")` the shipped model.
Both load on first use, so `import facelift` stays light."""

__version__ = "0.1.0"
__all__ = ["predict", "pretrained"]

_LAZY = {"predict": "facelift.api", "pretrained": "facelift.model.regressor"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facelift' has no attribute {name!r}")
