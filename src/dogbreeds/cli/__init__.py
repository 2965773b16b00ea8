"""The command line (``dogbreeds``), on top of every other layer."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[],
    submod_attrs={
        "program": [
            "main",
        ],
    },
)
